"""results.csv: one row per measured thing, raw numbers, units in the column names.

kind = local | edge (one per artifact/profile/threads/device; local: the median over `run --repeat`'s
repetitions), served (one per target x encoding x concurrency x repetition; a target or encoding
without a sweep gets one row with its status and reason), slo (one per target's search: the median rate over the repetitions),
slo_trial (one per open-loop trial, with its repetition).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..deploy.results import RunResults, ServedResult
from ..repeats import repetition
from .fmt import get
from .names import local_rows, slo_trials, sweep_repetitions

BASE_COLUMNS = (
    "kind",
    "target",
    "mode",
    "artifact",
    "runtime",
    "profile",
    "threads",
    "device",
    "concurrency",
    "repetition",
    "offered_rate_rps",
    "status",
    "reason",
    "requests",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
    "p99_incl_failures_ms",
    "throughput_rps",
)
TAIL_COLUMNS = (
    "errors",
    "top1_agreement",
    "client_bottleneck",
    "client_processes",
    "slo_p99_bound_ms",
    "slo_max_rate_rps",
    "slo_passed",
    "file_size_bytes",
    "rss_growth_mib",
    "load_ms",
    # the server's view of a served run (servers/monitor.py): CPU, memory, mean queue/compute per request
    "server_cpu_ms_per_request",
    "server_cores_busy",
    "server_peak_rss_mib",
    "server_queue_ms",
    "server_compute_ms",
    "encoding",  # served: how requests travelled (json, binary, grpc, ...), bytes per message
    "request_bytes",
    "response_bytes",
)
LATENCY_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in sorted(value.items()) if v)
    return str(value)


def _batches(rows: list[dict[str, Any]]) -> list[int]:
    sizes = set()
    for r in rows:
        thr = get(r, "throughput_samples_per_s")
        for k in thr if isinstance(thr, dict) else ():
            try:
                sizes.add(int(k))
            except (TypeError, ValueError):
                pass
    return sorted(sizes)


def _bench_row(kind: str, r: dict[str, Any], batches: list[int]) -> dict[str, Any]:
    thr = get(r, "throughput_samples_per_s")
    thr = thr if isinstance(thr, dict) else {}
    row = {
        "kind": kind,
        **{
            k: get(r, k)
            for k in (
                "artifact",
                "runtime",
                "profile",
                "threads",
                "device",
                "status",
                "reason",
                "file_size_bytes",
                "rss_growth_mib",
                "load_ms",
                "top1_agreement",
                *LATENCY_KEYS,
            )
        },
    }
    row["requests"] = get(r, "iterations")
    for b in batches:
        row[f"throughput_bs{b}_samples_per_s"] = thr.get(str(b), thr.get(b))
    return row


def _load_fields(d: Any) -> dict[str, Any]:
    return {
        **{k: get(d, k) for k in LATENCY_KEYS},
        "requests": get(d, "requests"),
        "p99_incl_failures_ms": get(d, "p99_incl_failures_ms"),
        "throughput_rps": get(d, "throughput_rps"),
        "errors": get(d, "errors"),
        "top1_agreement": get(d, "top1_agreement"),
        "client_bottleneck": get(d, "client_bottleneck"),
        "client_processes": get(d, "client_processes"),
        "server_cpu_ms_per_request": get(d, "server", "cpu_ms_per_request"),
        "server_cores_busy": get(d, "server", "cores_busy"),
        "server_peak_rss_mib": get(d, "server", "peak_rss_mib"),
        "server_queue_ms": get(d, "server", "split", "queue_ms"),
        "server_compute_ms": get(d, "server", "split", "compute_ms"),
        "encoding": get(d, "encoding"),
        "request_bytes": get(d, "request_bytes"),
        "response_bytes": get(d, "response_bytes"),
    }


def _served_rows(s: ServedResult) -> list[dict[str, Any]]:
    base = {"target": s.target, "mode": s.mode, "artifact": s.artifact, "status": s.status, "reason": s.reason}
    points = [p for group in sweep_repetitions(s).values() for p in group]
    rows = [
        {"kind": "served", **base, "concurrency": get(p, "concurrency"), "repetition": repetition(p), **_load_fields(p)}
        for p in points
    ]
    if not points:
        rows.append({"kind": "served", **base})
    for cell in s.encodings or []:  # the other [load] encodings: their sweeps, or why not
        if not isinstance(cell, dict):
            continue
        cell_base = {
            **base,
            "status": cell.get("status"),
            "reason": cell.get("reason"),
            "encoding": cell.get("encoding"),
        }
        sweep = [p for p in cell.get("sweep") or [] if isinstance(p, dict)]
        rows += [
            {
                "kind": "served",
                **cell_base,
                "concurrency": get(p, "concurrency"),
                "repetition": repetition(p),
                **_load_fields(p),
            }
            for p in sweep
        ]
        if not sweep:
            rows.append({"kind": "served", **cell_base})
    if isinstance(s.slo, dict):
        rows.append(
            {
                "kind": "slo",
                **base,
                "slo_p99_bound_ms": get(s.slo, "p99_bound_ms"),
                "slo_max_rate_rps": get(s.slo, "max_rate_rps"),
                "client_bottleneck": get(s.slo, "limited_by_client"),
                "reason": get(s.slo, "note") or s.reason,
            }
        )
        for t in slo_trials(s):
            rows.append(
                {
                    "kind": "slo_trial",
                    **base,
                    "offered_rate_rps": get(t, "rate_rps"),
                    "repetition": repetition(t),
                    **_load_fields(get(t, "result")),
                    "slo_p99_bound_ms": get(s.slo, "p99_bound_ms"),
                    "slo_passed": get(t, "passed"),
                    "reason": get(t, "reason") or None,
                }
            )
    return rows


def render_csv(results: RunResults, edge_rows: list[dict[str, Any]] | None = None) -> str:
    local = local_rows(results)  # one row per artifact/profile/threads: the median over repetitions
    edge = [r for r in (edge_rows if edge_rows is not None else results.edge) if isinstance(r, dict)]
    batches = _batches(local + edge)
    columns = [*BASE_COLUMNS, *(f"throughput_bs{b}_samples_per_s" for b in batches), *TAIL_COLUMNS]
    rows = [_bench_row("local", r, batches) for r in local]
    for s in results.served:
        rows += _served_rows(s)
    rows += [_bench_row("edge", r, batches) for r in edge]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return buf.getvalue()
