"""The statistics core: latency summaries, percentiles with failures counted, send lag,
rates, throughput and top-1 agreement.

Every path computes its figures here: the in-process benchmark, the edge runner, the
exporters' checks and the load client (clients/analyze.py, clients/distributed.py), so a
p99 means the same thing in every row. A core module (DESIGN.md "Layers"): it imports
nothing of the project, and knows nothing of what was timed or over which encoding.
Statistics that any path reports belong here, not beside the path.

Percentiles are exact: numpy's default (linear) interpolation over ALL samples, no
histogram bucketing, no sampling; every numpy version on a device computes it the same way.
Each reported percentile carries its distribution-free 95% interval from the same samples
(confidence.quantile_interval): <name>_ci_ms = [low, high], an end the samples cannot bound
None. An SLO trial's verdict is decided here too, from the same latencies in scheduled
order (slo_trial_decision, the rule the open loop stops by).

A pure module (stdlib + numpy only, Python 3.9 syntax): edge-bundle assembles it into
the standalone run_edge.py (edge/assemble.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .confidence import INTERVAL_CONFIDENCE, Interval, SequentialBound, quantile_interval, replay

#: (name, q): the percentiles every latency summary reports, as <name>_ms
PERCENTILES: Tuple[Tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)
#: the percentiles that carry an interval (p999 would need ~3,700 samples for an upper end)
INTERVAL_PERCENTILES: Tuple[Tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0))

#: [low, high] in ms, an end the samples cannot bound None; None for an empty window
CiMs = Optional[List[Optional[float]]]


@dataclass(frozen=True)
class LatencyStats:
    """A latency summary in milliseconds. An empty window has count 0 and every figure None."""

    count: int
    mean_ms: Optional[float]
    min_ms: Optional[float]
    p50_ms: Optional[float]
    p90_ms: Optional[float]
    p95_ms: Optional[float]
    p99_ms: Optional[float]
    p999_ms: Optional[float]
    max_ms: Optional[float]
    p50_ci_ms: CiMs = None
    p90_ci_ms: CiMs = None
    p99_ci_ms: CiMs = None

    def figures_ms(self) -> Dict[str, object]:
        """The <name>_ms figures by field name (what result records store)."""
        return {
            "mean_ms": self.mean_ms,
            "min_ms": self.min_ms,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "max_ms": self.max_ms,
            "p50_ci_ms": self.p50_ci_ms,
            "p90_ci_ms": self.p90_ci_ms,
            "p99_ci_ms": self.p99_ci_ms,
        }


def latency_summary(samples_ns: np.ndarray) -> LatencyStats:
    """LatencyStats of per-request (or per-call) durations given in nanoseconds."""
    ns = np.asarray(samples_ns, dtype=np.float64)
    if ns.size == 0:
        return LatencyStats(0, None, None, None, None, None, None, None, None)
    p50, p90, p95, p99, p999 = (float(v) / 1e6 for v in np.percentile(ns, [q for _, q in PERCENTILES]))
    ordered = np.sort(ns)
    ci = {name: _ms(quantile_interval(ordered, q / 100.0, presorted=True)) for name, q in INTERVAL_PERCENTILES}
    return LatencyStats(
        count=int(ns.size),
        mean_ms=float(ns.mean()) / 1e6,
        min_ms=float(ns.min()) / 1e6,
        p50_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        p999_ms=p999,
        max_ms=float(ns.max()) / 1e6,
        p50_ci_ms=ci["p50"],
        p90_ci_ms=ci["p90"],
        p99_ci_ms=ci["p99"],
    )


def _ms(interval: Interval) -> List[Optional[float]]:
    """An interval over nanoseconds as [low, high] in ms (None ends stay None)."""
    return [None if v is None else v / 1e6 for v in interval.as_list()]


def precise(stats: LatencyStats, max_relative_width: float) -> bool:
    """True when the p50 and p99 intervals are both bounded and at most `max_relative_width`
    of their estimate wide: the stop rule of closed-loop levels and in-process timings."""
    for ci, estimate in ((stats.p50_ci_ms, stats.p50_ms), (stats.p99_ci_ms, stats.p99_ms)):
        if ci is None or estimate is None:
            return False
        width = Interval(ci[0], ci[1], INTERVAL_CONFIDENCE).relative_width(estimate)
        if width is None or width > max_relative_width:
            return False
    return True


def throughput_per_s(items: int, wall_ns: int) -> float:
    """Items per second over a wall-clock span in nanoseconds."""
    if wall_ns <= 0:
        raise ValueError(f"throughput_per_s: wall_ns must be > 0, got {wall_ns}")
    return items * 1e9 / wall_ns


def top1_agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of rows whose arg-max equals the reference's arg-max (both (rows, classes) scores)."""
    outputs = np.asarray(outputs)
    reference = np.asarray(reference)
    if outputs.shape != reference.shape:
        raise ValueError(f"top1_agreement: outputs shape {outputs.shape} != reference shape {reference.shape}")
    return top1_accuracy(outputs, reference.argmax(axis=1))


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose arg-max equals the label (class index) given for that row."""
    outputs = np.asarray(outputs)
    labels = np.asarray(labels)
    if outputs.shape[:1] != labels.shape:
        raise ValueError(f"top1_accuracy: {outputs.shape[0]} output rows for {labels.shape} labels")
    return float((outputs.argmax(axis=1) == labels).mean())


# A failed or dropped request counts as slower than any real one when a percentile
# "including failures" is asked for; results at or above this are reported as None.
_FAILED_NS = float(1 << 62)


def percentile_including_failures_ms(latencies_ns: np.ndarray, n_failed: int, q: float) -> Optional[float]:
    """The q-th percentile when each of n_failed requests counts as infinitely slow.

    None means the percentile falls among the failures (unbounded). This is the latency
    an SLO sees: a request that errored or was dropped did not meet any bound.
    """
    lat = np.asarray(latencies_ns, dtype=np.float64)
    if lat.size + n_failed == 0:
        return None
    allv = np.concatenate([lat, np.full(n_failed, _FAILED_NS)])
    v = float(np.percentile(allv, q))
    return None if v >= _FAILED_NS / 2 else v / 1e6


def including_failures_interval_ms(latencies_ns: np.ndarray, n_failed: int, q: float) -> CiMs:
    """The interval of percentile_including_failures_ms: an end among the failures is None."""
    lat = np.asarray(latencies_ns, dtype=np.float64)
    if lat.size + n_failed == 0:
        return None
    ordered = np.concatenate([np.sort(lat), np.full(n_failed, _FAILED_NS)])
    low, high = quantile_interval(ordered, q / 100.0, presorted=True).as_list()
    return [None if v is None or v >= _FAILED_NS / 2 else v / 1e6 for v in (low, high)]


def over_bound(latencies_ns: np.ndarray, ok: np.ndarray, bound_ms: float) -> np.ndarray:
    """Per request: over the latency bound, or failed (an error or a drop meets no bound)."""
    return ~np.asarray(ok, dtype=bool) | (np.asarray(latencies_ns, dtype=np.float64) > bound_ms * 1e6)


class TrialDecision(NamedTuple):
    """An SLO trial's verdict by the sequential rule: True pass, False fail, None undecided."""

    verdict: Optional[bool]
    requests: int  # the requests (in scheduled order) the verdict rests on
    over: int  # of them over the bound or failed


def slo_trial_decision(
    latencies_ns: np.ndarray, ok: np.ndarray, bound_ms: float, rule: SequentialBound
) -> TrialDecision:
    """The verdict of "p99 <= bound_ms" for requests given in SCHEDULED order (latency =
    completion - scheduled send; ok False for a failure or a drop), replayed through the
    SequentialTrial the open loop stops by: the first point at which it decided."""
    trial = replay(over_bound(latencies_ns, ok, bound_ms), rule)
    return TrialDecision(trial.verdict, trial.completed, trial.over)


def goodput_per_s(latencies_ns: np.ndarray, bound_ms: float, window_ns: float) -> float:
    """Good answers within the latency bound, per second of the window."""
    within = int(np.count_nonzero(np.asarray(latencies_ns, dtype=np.float64) <= bound_ms * 1e6))
    return rate_per_s(within, window_ns)


class SendLag(NamedTuple):
    """How late the open loop's sends left: share later than the threshold, p50/p99/max in ms."""

    late_share: Optional[float]
    p50_ms: Optional[float]
    p99_ms: Optional[float]
    max_ms: Optional[float]


def send_lag(scheduled_ns: np.ndarray, sent_ns: np.ndarray, threshold_ns: float) -> SendLag:
    """How late each send left against its schedule (the open loop's coordinated-omission check)."""
    sched = np.asarray(scheduled_ns, dtype=np.int64)
    if sched.size == 0:
        return SendLag(None, None, None, None)
    lag = np.asarray(sent_ns, dtype=np.int64) - sched
    p50, p99 = np.percentile(lag, [50, 99]) / 1e6
    return SendLag(
        float(np.count_nonzero(lag > threshold_ns)) / lag.size, float(p50), float(p99), float(lag.max()) / 1e6
    )


def rate_per_s(count: int, window_ns: float) -> float:
    """Events per second over a window in nanoseconds (0 for an empty window)."""
    return 0.0 if window_ns <= 0 else count / (window_ns / 1e9)
