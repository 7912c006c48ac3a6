"""Percentile cells carry their 95% interval, and say so when the samples cannot bound it."""

from __future__ import annotations

import pytest

from deploy_compare.repeats import ci_hull
from deploy_compare.report.fmt import interval
from deploy_compare.report.tables import latency_cell

pytestmark = pytest.mark.unit


def point(p99: float, ci: list, completed: int = 5000) -> dict:
    return {"p99_ms": p99, "p99_ci_ms": ci, "completed": completed}


def test_one_run_shows_its_interval():
    assert latency_cell([point(4.1, [3.9, 4.6])], "p99_ms") == "4.10 [3.90-4.60]"


def test_an_unbounded_end_says_why_instead_of_looking_exact():
    cell = latency_cell([point(4.1, [3.9, None], completed=212)], "p99_ms")
    assert cell == "4.10 [3.90-?] (n=212: too few samples to bound p99)"
    assert interval((None, None), 3, "p99") == " [?-?] (n=3: too few samples to bound p99)"


def test_repetitions_show_the_hull_of_their_intervals():
    cell = latency_cell([point(4.0, [3.8, 4.4]), point(4.4, [4.1, 4.9])], "p99_ms")
    assert cell == "4.20 (4.00-4.40) [3.80-4.90]"


def test_records_without_intervals_render_as_before():
    assert latency_cell([{"p99_ms": 4.1}], "p99_ms") == "4.10"
    assert ci_hull([{"p99_ci_ms": "bad"}], "p99_ms") is None
    assert latency_cell([None], "p99_ms") == "-"  # type: ignore[list-item]


def test_verdicts_rank_by_intervals_and_a_minimum_effect():
    from deploy_compare.confidence import Interval
    from deploy_compare.repeats import Spread
    from deploy_compare.report.verdicts import _rank

    def entry(name: str, p50: float) -> tuple:
        spread = Spread.of([p50])
        assert spread is not None
        return (name, name, spread)

    a, near, far = entry("a", 4.0), entry("near", 4.1), entry("far", 6.0)
    intervals = {"a": Interval(3.9, 4.05, 0.95), "near": Interval(4.06, 4.2, 0.95), "far": Interval(5.8, 6.2, 0.95)}
    # near's interval is apart from a's, but 2.5% slower is under the 5% minimum effect: tied
    assert [e[0] for e in _rank([a, near, far], intervals, 0.05)[1]] == ["a", "near"]
    # without a minimum effect the apart intervals decide
    assert [e[0] for e in _rank([a, near, far], intervals, 0.0)[1]] == ["a"]
    # an interval with an open end cannot be shown apart: a tie even at 50% slower
    intervals["far"] = Interval(5.8, None, 0.95)
    assert "far" in [e[0] for e in _rank([a, near, far], intervals, 0.05)[1]]


def test_plot_error_bars_come_from_the_intervals():
    from deploy_compare.report.plots import ci_yerr

    points = [{"p99_ms": 4.0, "p99_ci_ms": [3.5, 5.0]}, {"p99_ms": 6.0, "p99_ci_ms": [5.0, None]}, {"p99_ms": 7.0}]
    assert ci_yerr(points, "p99_ms") == [[0.5, 1.0, 0.0], [1.0, 0.0, 0.0]]
