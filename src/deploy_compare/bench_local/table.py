"""Render results as a Markdown table (a view: the JSON is the source of truth)."""

from __future__ import annotations

from collections.abc import Sequence

from .result import BenchResult

COLUMNS = (
    "artifact",
    "runtime",
    "device",
    "profile",
    "threads",
    "cores",
    "status",
    "import ms",
    "import MiB",
    "load ms",
    "first ms",
    "p50 ms",
    "invoke p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "iters",
    "bs1 /s",
    "bs8 /s",
    "bs32 /s",
    "RSS+ MiB",
    "size KiB",
    "top-1",
    "reason / notes",
)
# invoke p50 ms (TFLite): set_tensor + invoke + get_tensor on converted inputs, like benchmark_model; p50 ms is end-to-end.
# import MiB: peak RSS added by importing the runtime package; RSS+ MiB: added by the model's load and inference.


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _row(r: BenchResult) -> list[str]:
    thr = r.throughput_samples_per_s
    cores = "" if r.pinned_cores is None else ",".join(map(str, r.pinned_cores))
    return [
        r.artifact,
        r.runtime,
        r.device,
        r.profile,
        str(r.threads),
        cores,
        r.status,
        _num(r.import_ms, 0),
        _num(r.rss_import_mib, 1),
        _num(r.load_ms, 1),
        _num(r.first_inference_ms, 2),
        _num(r.p50_ms),
        _num(r.invoke_p50_ms),
        _num(r.p90_ms),
        _num(r.p99_ms),
        _num(r.max_ms),
        "" if r.iterations is None else str(r.iterations),
        *(_num(thr.get(b), 0) for b in (1, 8, 32)),
        _num(r.rss_growth_mib, 1),
        _num(None if r.file_size_bytes is None else r.file_size_bytes / 1024, 1),
        "" if r.top1_agreement is None else f"{r.top1_agreement:.1%} of {r.samples_checked}",
        r.reason or "; ".join(r.notes),
    ]


def markdown_table(results: Sequence[BenchResult]) -> str:
    rows = [list(COLUMNS)] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
