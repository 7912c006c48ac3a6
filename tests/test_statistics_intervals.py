"""statistics.py's intervals, precision rule, goodput and SLO-trial verdict: the figures the load
client, the in-process benchmark and the edge runner report (coverage: bench/statistics_coverage.py)."""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.confidence import SequentialBound, quantile_interval
from deploy_compare.statistics import (
    goodput_per_s,
    including_failures_interval_ms,
    latency_summary,
    precise,
    slo_trial_decision,
)

pytestmark = pytest.mark.unit


def test_summary_intervals_are_the_order_statistic_intervals_in_ms():
    ns = np.random.default_rng(3).lognormal(15, 0.4, 2000)
    s = latency_summary(ns)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        ci = getattr(s, f"{name}_ci_ms")
        expected = quantile_interval(ns, q)
        assert ci == pytest.approx([expected.low / 1e6, expected.high / 1e6])
        assert ci[0] <= getattr(s, f"{name}_ms") <= ci[1]
    few = latency_summary(ns[:100])
    assert few.p99_ci_ms[1] is None and few.p50_ci_ms[1] is not None  # 100 samples cannot bound p99 above
    assert latency_summary(np.zeros(0)).p99_ci_ms is None


def test_precise_needs_both_intervals_narrow():
    rng = np.random.default_rng(0)
    assert not precise(latency_summary(rng.normal(5e6, 1e5, 200)), 0.10)  # p99 unbounded at 200
    assert precise(latency_summary(rng.normal(5e6, 1e5, 20000)), 0.10)
    assert not precise(latency_summary(rng.lognormal(15, 1.0, 20000)), 0.01)


def test_failures_push_the_interval_open():
    lat = np.full(990, 5e6)
    assert including_failures_interval_ms(lat, 0, 99.0) == [5.0, 5.0]
    low, high = including_failures_interval_ms(lat, 10, 99.0)
    assert low == 5.0 and high is None  # the upper end lies among the failures
    assert including_failures_interval_ms(np.zeros(0), 0, 99.0) is None


def test_slo_trial_decision_replays_the_sequential_rule():
    rule = SequentialBound(confidence=0.99, cap=20000)
    fast = np.full(5000, 10e6)
    ok = np.ones(5000, dtype=bool)
    d = slo_trial_decision(fast, ok, 50.0, rule)
    assert d.verdict is True and d.requests == rule.threshold(0) and d.over == 0
    failing = ok.copy()
    failing[::5] = False  # every fifth request failed: over the bound, whatever its latency
    d = slo_trial_decision(fast, failing, 50.0, rule)
    assert d.verdict is False and d.over == rule.max_over + 1
    d = slo_trial_decision(fast[:100], ok[:100], 50.0, rule)
    assert d.verdict is None and d.requests == 100


def test_goodput_counts_answers_within_the_bound():
    lat = np.array([10e6, 20e6, 60e6, 70e6])
    assert goodput_per_s(lat, 50.0, 2e9) == 1.0
