"""The interval and sequential-rule arithmetic against independent references (scipy, LoadGen's
published figures, the textbook median interval). Coverage and false-pass rates over simulated
runs are bench/statistics_coverage.py's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from deploy_compare.confidence import (
    Interval,
    SequentialBound,
    binomial_cdf,
    compare,
    mean_interval,
    min_passing_requests,
    quantile_interval,
    quantile_ranks,
    replay,
    samples_to_bound,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("n", "p"), [(1, 0.3), (50, 0.01), (1000, 0.37), (5000, 0.99)])
def test_binomial_cdf_matches_scipy(n, p):
    assert np.allclose(binomial_cdf(n, p), stats.binom.cdf(np.arange(n + 1), n, p), atol=1e-10)


def test_loadgen_early_stopping_figures():
    # loadgen/early_stopping.cc for p99 at 99% confidence, as quoted in issue 23.
    assert [min_passing_requests(t, 0.99, 0.99) for t in (0, 1, 10)] == [459, 662, 2010]
    for t in (0, 3, 25):
        h = min_passing_requests(t, 0.99, 0.99) - t
        # LoadGen's condition: I_p(h, t + 1) <= 1 - c, and h is the smallest such value.
        assert special.betainc(h, t + 1, 0.99) <= 0.01 < special.betainc(h - 1, t + 1, 0.99)


def test_textbook_median_ranks_and_the_p99_sample_floor():
    assert quantile_ranks(100, 0.5) == (40, 61)  # the classic distribution-free 95% median interval
    floor = samples_to_bound(0.99)
    assert quantile_ranks(floor, 0.99)[1] == floor and quantile_ranks(floor - 1, 0.99)[1] is None
    assert 360 <= floor <= 375  # "about 370 samples before it has an upper end"
    assert quantile_ranks(0, 0.5) == (None, None)


def test_ranks_hold_their_confidence_exactly():
    for n, q in ((100, 0.5), (1000, 0.9), (2000, 0.99)):
        low, high = quantile_ranks(n, q)
        covered = stats.binom.cdf(high - 1, n, q) - stats.binom.cdf(low - 1, n, q)
        assert covered >= 0.95
        # equal tails, each as far in as it can go: one rank inward leaves more than 2.5% outside
        assert stats.binom.sf(high - 2, n, q) > 0.025
        assert stats.binom.cdf(low, n, q) > 0.025


def test_quantile_interval_reads_the_order_statistics():
    samples = np.random.default_rng(1).permutation(np.arange(1, 101, dtype=float))
    interval = quantile_interval(samples, 0.5)
    assert (interval.low, interval.high) == (40.0, 61.0)
    short = quantile_interval(np.arange(50.0), 0.99)
    assert short.high is None and not short.bounded and short.relative_width(49.0) is None


def test_sequential_bound_passes_fails_and_waits():
    rule = SequentialBound(percentile=0.99, confidence=0.99, cap=3000)
    first = rule.threshold(0)
    assert first > min_passing_requests(0, 0.99, 0.99)  # the error is spent over the looks
    assert rule.decide(first - 1, 0) is None
    assert rule.decide(first, 0) is True
    assert rule.decide(first, 1) is None
    assert rule.decide(10, rule.max_over + 1) is False  # passing is impossible within the cap
    assert rule.decide(3000, rule.max_over) in (True, False)
    assert rule.threshold(rule.max_over) <= 3000 < rule.threshold(rule.max_over + 1)
    flags = np.zeros(3000, dtype=bool)
    trial = replay(flags, rule)
    assert (trial.verdict, trial.completed) == (True, first)
    flags[:40] = True
    trial = replay(flags, rule)
    assert trial.verdict is False and trial.completed == rule.max_over + 1


@pytest.mark.parametrize("bad", [{"percentile": 1.0}, {"confidence": 0.2}, {"cap": 0}])
def test_sequential_bound_refuses_bad_settings(bad):
    with pytest.raises(ValueError):
        SequentialBound(**bad)


def test_mean_interval_is_students_t():
    values = [10.0, 12.0, 11.0, 13.0]
    interval = mean_interval(values)
    low, high = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert interval.low == pytest.approx(low) and interval.high == pytest.approx(high)
    assert not mean_interval([5.0]).bounded
    # two SLO rates, 100 and 400 req/s: the one-degree-of-freedom interval reaches below 0 req/s
    assert mean_interval([100.0, 400.0]).low < 0
    cut = mean_interval([100.0, 400.0], floor=0.0)
    assert cut.low == 0.0 and cut.high == pytest.approx(mean_interval([100.0, 400.0]).high)


def test_compare_needs_apart_intervals_and_a_real_effect():
    a = Interval(9.0, 11.0, 0.95)
    assert compare(a, Interval(5.0, 6.0, 0.95), 10.0, 5.5) == "lower"
    assert compare(a, Interval(14.0, 16.0, 0.95), 10.0, 15.0) == "higher"
    assert compare(a, Interval(10.5, 12.0, 0.95), 10.0, 11.2) == "tied"  # overlapping
    assert compare(Interval(9.9, 10.1, 0.95), Interval(10.25, 10.4, 0.95), 10.0, 10.3) == "tied"  # under 5%
    assert compare(a, Interval(None, 20.0, 0.95), 10.0, 15.0) == "tied"  # an open end proves nothing
    assert compare(a, a, None, 10.0) == "unknown"


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
def test_student_t_quantile_matches_scipy(df):
    from deploy_compare.confidence import student_t_quantile

    for p in (0.975, 0.995):
        assert student_t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-4)
