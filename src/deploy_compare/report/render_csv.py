"""results.csv: one row per measured thing, raw numbers, units in the column names.

kind = local | edge (one per artifact/profile/threads/device; local: the median over `run --repeat`'s
repetitions), served (one per target x request batch size x encoding x concurrency x repetition;
a target or encoding without a sweep gets one row with its status and reason), slo (one per
target's search at each batch size: the median rate over the repetitions), slo_trial (one per
open-loop trial, with its repetition), tune (one per server setting the tune stage compared,
the defaults included: its SLO rate; tune_best marks the best), tune_trial (one per open-loop
trial of a setting the tune stage started a server for), cold_start (one per launch: launch to
healthy, to the first inference, the first requests' latency).

batch_size is the samples per request of a served, slo, slo_trial or tune row; a rate in
requests/s times it is the samples/s column beside it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..deploy.results import RunResults, ServedResult
from ..repeats import finite, repetition
from .fmt import ascending, get, getf
from .names import local_rows, slo_trials, sweep_repetitions
from .tuning import workloads

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
    "peak_rss_init_mib",
    "peak_rss_mib",
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
    # request batch sizes ([load] batch_sizes) and the tune stage ([tune]); kind cold_start
    "batch_size",
    "throughput_samples_per_s",
    "slo_max_rate_samples_per_s",
    "setting",
    "tune_best",
    "tune_gain_vs_default",
    "launch_to_healthy_s",
    "launch_to_first_inference_s",
    "first_requests_ms",
    "image_build_s",
    # issue 23: each percentile's 95% interval (empty end: too few samples to bound it), the
    # answers within the SLO bound per second, why a run stopped and the samples it rests on
    *(f"{q}_ci_{end}_ms" for q in ("p50", "p90", "p99", "p99_incl_failures") for end in ("low", "high")),
    "goodput_rps",
    "stop_reason",
    "slo_confidence",
)
#: the percentiles whose <name>_ci_ms interval the CSV splits into low/high columns
CI_KEYS = ("p50", "p90", "p99", "p99_incl_failures")
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


def _ci_fields(d: Any) -> dict[str, Any]:
    """<q>_ci_low_ms / <q>_ci_high_ms from a record's <q>_ci_ms = [low, high]."""
    out: dict[str, Any] = {}
    for q in CI_KEYS:
        ci = get(d, f"{q}_ci_ms")
        low, high = ci if isinstance(ci, list) and len(ci) == 2 else (None, None)
        out[f"{q}_ci_low_ms"], out[f"{q}_ci_high_ms"] = low, high
    return out


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
                "peak_rss_init_mib",
                "peak_rss_mib",
                "load_ms",
                "top1_agreement",
                *LATENCY_KEYS,
            )
        },
    }
    row["requests"] = get(r, "iterations")
    row.update(_ci_fields(r))
    for b in batches:
        row[f"throughput_bs{b}_samples_per_s"] = thr.get(str(b), thr.get(b))
    return row


def _load_fields(d: Any) -> dict[str, Any]:
    return {
        **{k: get(d, k) for k in LATENCY_KEYS},
        **_ci_fields(d),
        "goodput_rps": get(d, "goodput_rps"),
        "stop_reason": get(d, "stop_reason"),
        "slo_confidence": get(d, "slo_confidence"),
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
        "batch_size": get(d, "batch_size"),
        "throughput_samples_per_s": get(d, "throughput_samples_per_s"),
    }


def _samples(rate: Any, batch: Any) -> float | None:
    rate, batch = finite(rate), finite(batch)
    return None if rate is None or batch is None else rate * batch


def _slo_rows(
    base: dict[str, Any], slo: dict[str, Any], trials: list[dict[str, Any]], batch: int
) -> list[dict[str, Any]]:
    """One search's slo row (its rate in requests/s and samples/s) and a slo_trial row per trial."""
    rows = [
        {
            "kind": "slo",
            **base,
            "batch_size": batch,
            "slo_p99_bound_ms": get(slo, "p99_bound_ms"),
            "slo_max_rate_rps": get(slo, "max_rate_rps"),
            "slo_max_rate_samples_per_s": _samples(get(slo, "max_rate_rps"), batch),
            "client_bottleneck": get(slo, "limited_by_client"),
            "reason": get(slo, "note") or base.get("reason"),
        }
    ]
    for t in trials:
        rows.append(
            {
                "kind": "slo_trial",
                **base,
                "offered_rate_rps": get(t, "rate_rps"),
                "repetition": repetition(t),
                **_load_fields(get(t, "result")),
                "batch_size": get(t, "result", "batch_size") or batch,
                "slo_p99_bound_ms": get(slo, "p99_bound_ms"),
                "slo_passed": get(t, "passed"),
                "reason": get(t, "reason") or None,
            }
        )
    return rows


def _by_rate(trials: Any) -> list[dict[str, Any]]:
    """A search's trials by repetition, then rate (as names.slo_trials orders the first size's)."""
    kept = [t for t in trials or [] if isinstance(t, dict) and getf(t, "rate_rps") is not None]
    return sorted(kept, key=lambda t: (repetition(t), ascending(getf(t, "rate_rps"))))


def _batch_rows(s: ServedResult, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The request batch sizes after the first (ServedResult.batches): their closed-loop
    points and their SLO search, one row per point, search and trial."""
    rows: list[dict[str, Any]] = []
    for batch, sweep, slo in workloads(s)[1:]:
        rows += [
            {
                "kind": "served",
                **base,
                "concurrency": get(p, "concurrency"),
                "repetition": repetition(p),
                **_load_fields(p),
                "batch_size": get(p, "batch_size") or batch,
            }
            for p in sorted(sweep, key=lambda p: (ascending(getf(p, "concurrency")), repetition(p)))
        ]
        if isinstance(slo, dict):
            rows += _slo_rows(base, slo, _by_rate(slo.get("trials")), batch)
    for entry in s.batches:  # a batch size the server refused: a row with its reason
        if isinstance(entry, dict) and entry.get("status") not in (None, "OK"):
            rows.append(
                {
                    "kind": "served",
                    **base,
                    "status": entry.get("status"),
                    "reason": entry.get("reason"),
                    "repetition": repetition(entry),
                    "batch_size": entry.get("batch_size"),
                }
            )
    return rows


def _tune_rows(s: ServedResult, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The tune stage (ServedResult.tuning): a tune row per setting (the defaults first) with
    its SLO rate, the best marked; a tune_trial row per open-loop trial it ran for a setting."""
    tuning = s.tuning
    if not isinstance(tuning, dict):
        return []
    batch = tuning.get("batch_size")
    best = tuning.get("best") if isinstance(tuning.get("best"), dict) else None
    settings = [t for t in [tuning.get("default"), *(tuning.get("trials") or [])] if isinstance(t, dict)]
    rows: list[dict[str, Any]] = []
    for t in settings:
        is_best = best is not None and t.get("label") == best.get("label")
        rows.append(
            {
                "kind": "tune",
                **base,
                "status": t.get("status", "OK"),
                "reason": t.get("reason") or get(t, "slo", "note") or tuning.get("note") or None,
                "batch_size": batch,
                "setting": t.get("label"),
                "slo_p99_bound_ms": tuning.get("p99_bound_ms"),
                "slo_max_rate_rps": t.get("max_rate_rps"),
                "slo_max_rate_samples_per_s": t.get("max_rate_samples_per_s"),
                "client_bottleneck": t.get("limited_by_client"),
                "tune_best": is_best,
                "tune_gain_vs_default": best.get("gain_vs_default") if is_best and best else None,
            }
        )
        for trial in _by_rate(get(t, "slo", "trials")):
            rows.append(
                {
                    "kind": "tune_trial",
                    **base,
                    "setting": t.get("label"),
                    "offered_rate_rps": get(trial, "rate_rps"),
                    "repetition": repetition(trial),
                    **_load_fields(get(trial, "result")),
                    "batch_size": get(trial, "result", "batch_size") or batch,
                    "slo_p99_bound_ms": tuning.get("p99_bound_ms"),
                    "slo_passed": get(trial, "passed"),
                    "reason": get(trial, "reason") or None,
                }
            )
    return rows


def _cold_start_rows(s: ServedResult, base: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per launch of the served stage (cold_start_repeats; older runs: cold_start)."""
    colds = [c for c in s.cold_start_repeats if isinstance(c, dict)]
    if not colds and isinstance(s.cold_start, dict):
        colds = [s.cold_start]
    return [
        {
            "kind": "cold_start",
            **base,
            "repetition": repetition(c),
            "reason": c.get("note") or base.get("reason"),
            "launch_to_healthy_s": c.get("launch_to_healthy_s"),
            "launch_to_first_inference_s": c.get("launch_to_first_inference_s"),
            "first_requests_ms": c.get("first_requests_ms"),
            "image_build_s": c.get("image_build_s"),
        }
        for c in colds
    ]


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
    first_batch = workloads(s)[0][0]
    for row in rows:  # points from before batch sizes were recorded ran the first size (1)
        if row.get("concurrency") is not None and row.get("batch_size") is None:
            row["batch_size"] = first_batch
    if isinstance(s.slo, dict):
        rows += _slo_rows(base, s.slo, slo_trials(s), first_batch)
    rows += _batch_rows(s, base)
    rows += _tune_rows(s, base)
    rows += _cold_start_rows(s, base)
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
