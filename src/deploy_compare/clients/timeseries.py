"""Per-second view of one run: throughput, p50, p99 and errors over time.

A stall, a garbage-collection pause or drift shows here and vanishes in the run's single
percentiles. Bounded in size: a run longer than MAX_POINTS seconds gets wider buckets
(bucket_s > 1), so results.json grows by at most MAX_POINTS points per run.

Requests are placed by when they finished (a dropped request, never sent, by when it was
due), relative to the end of the warm-up; percentiles are exact within each bucket.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_POINTS = 300


def per_second(
    scheduled_ns: np.ndarray,
    done_ns: np.ndarray,
    ok: np.ndarray,
    measure_start_ns: int,
    end_ns: int,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """{"bucket_s", "t_s", "throughput_rps", "p50_ms", "p99_ms", "errors"}; t_s is each bucket's start.

    Buckets cover [measure_start, end]; a bucket with no good answer has p50/p99 None."""
    span_s = max((end_ns - measure_start_ns) / 1e9, 0.0)
    width_s = max(1, math.ceil(span_s / max_points)) if span_s > 0 else 1
    count = max(1, math.ceil(span_s / width_s)) if span_s > 0 else 0
    out: dict[str, Any] = {
        "bucket_s": width_s,
        "t_s": [],
        "throughput_rps": [],
        "p50_ms": [],
        "p99_ms": [],
        "errors": [],
    }
    if count == 0 or len(done_ns) == 0:
        return out
    when = np.where(done_ns > 0, done_ns, scheduled_ns)  # a dropped request: when it was due
    index = np.clip((when - measure_start_ns) // int(width_s * 1e9), 0, count - 1).astype(np.int64)
    latency_ms = (done_ns - scheduled_ns) / 1e6
    good_index, good_latency = index[ok], latency_ms[ok]
    order = np.argsort(good_index, kind="stable")
    good_index, good_latency = good_index[order], good_latency[order]
    bounds = np.searchsorted(good_index, np.arange(count + 1))
    errors = np.bincount(index[~ok], minlength=count)
    for b in range(count):
        chunk = good_latency[bounds[b] : bounds[b + 1]]
        out["t_s"].append(b * width_s)
        covered_s = min(width_s, span_s - b * width_s)  # the last bucket may be shorter
        out["throughput_rps"].append(round(len(chunk) / max(covered_s, 1e-3), 2))
        if len(chunk):
            p50, p99 = np.percentile(chunk, [50.0, 99.0])
            out["p50_ms"].append(round(float(p50), 3))
            out["p99_ms"].append(round(float(p99), 3))
        else:
            out["p50_ms"].append(None)
            out["p99_ms"].append(None)
        out["errors"].append(int(errors[b]))
    return out
