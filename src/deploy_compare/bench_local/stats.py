"""Statistics over timing samples. Pure functions; nothing here knows what was timed.

A pure module (stdlib + numpy only, Python 3.9 syntax): edge-bundle assembles it into
the standalone run_edge.py (edge/assemble.py). Percentiles use numpy's default (linear) interpolation over ALL samples, which every numpy version
on a device computes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    iterations: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def latency_summary(samples_ns: np.ndarray) -> LatencyStats:
    """LatencyStats of per-call durations given in nanoseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        raise ValueError("latency_summary: no samples")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyStats(
        iterations=int(ms.size),
        mean_ms=float(ms.mean()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        max_ms=float(ms.max()),
    )


def throughput_per_s(items: int, wall_ns: int) -> float:
    """Items per second over a wall-clock span in nanoseconds."""
    if wall_ns <= 0:
        raise ValueError(f"throughput_per_s: wall_ns must be > 0, got {wall_ns}")
    return items * 1e9 / wall_ns


def top1_agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of rows whose arg-max equals the reference's arg-max."""
    outputs = np.asarray(outputs)
    reference = np.asarray(reference)
    if outputs.shape != reference.shape:
        raise ValueError(f"top1_agreement: outputs shape {outputs.shape} != reference shape {reference.shape}")
    return float((outputs.argmax(axis=1) == reference.argmax(axis=1)).mean())
