"""The load client's own statistics: percentiles with failures counted, send lag, rates.

The latency summary itself is the one every path uses (bench_local/stats.py). Pure
numpy; knows nothing of HTTP or of the loops. Percentiles are exact, over ALL samples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# A failed or dropped request counts as slower than any real one when a percentile
# "including failures" is asked for; results at or above this are reported as None.
_FAILED_NS = float(1 << 62)


def percentile_including_failures_ms(latencies_ns: np.ndarray, n_failed: int, q: float) -> float | None:
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


class SendLag(NamedTuple):
    """How late the open loop's sends left: share later than the threshold, p50/p99/max in ms."""

    late_share: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def send_lag(scheduled_ns: np.ndarray, sent_ns: np.ndarray, threshold_ns: float) -> SendLag:
    sched = np.asarray(scheduled_ns, dtype=np.int64)
    if sched.size == 0:
        return SendLag(None, None, None, None)
    lag = np.asarray(sent_ns, dtype=np.int64) - sched
    p50, p99 = np.percentile(lag, [50, 99]) / 1e6
    return SendLag(
        float(np.count_nonzero(lag > threshold_ns)) / lag.size, float(p50), float(p99), float(lag.max()) / 1e6
    )


def rate_per_s(count: int, window_ns: float) -> float:
    return 0.0 if window_ns <= 0 else count / (window_ns / 1e9)
