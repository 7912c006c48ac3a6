"""Percentile cells carry their 95% interval, and say so when the samples cannot bound it."""

from __future__ import annotations

import pytest

from deploy_compare.report.fmt import ci_of, interval
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
    assert ci_of({"p99_ci_ms": "bad"}, "p99_ms") is None
    assert latency_cell([None], "p99_ms") == "-"  # type: ignore[list-item]
