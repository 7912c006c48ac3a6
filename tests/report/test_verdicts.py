"""Verdicts on synthetic repeated runs: served vs served at one concurrency, ties when ranges or
brackets overlap, a client-limited lower bound never ranked as a measurement, every verdict
with its figures and uncertainty. Figures are built here; expectations derive from them."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from deploy_compare.deploy.results import ServedResult
from deploy_compare.repeats import combine_slo
from deploy_compare.report import tables
from deploy_compare.report.names import stack_name
from deploy_compare.report.verdicts import TIED, all_verdicts

pytestmark = pytest.mark.unit


@pytest.fixture
def served(make_load_result):
    """served(target, {level: [p50 per repetition]}, [(pass, fail) per repetition], limited=False)."""
    return lambda *args, **kwargs: _served(make_load_result, *args, **kwargs)


def _served(
    load_result,
    target: str,
    p50s_by_level: dict[int, list[float]],
    slo_reps: list[tuple[float | None, float | None]],
    *,
    limited: bool = False,
) -> ServedResult:
    """A served target with one sweep point per level and repetition (p50 given, the rest
    derived) and one SLO search per repetition, each (pass rate, fail rate)."""
    sweep = []
    for level, p50s in p50s_by_level.items():
        for rep, p50 in enumerate(p50s, 1):
            sweep.append({**load_result(p50, concurrency=level).to_dict(), "repetition": rep})
    repeats, trials = [], []
    for rep, (ok, fail) in enumerate(slo_reps, 1):
        for rate, passed in ((ok, True), (fail, False)):
            if rate is not None:
                result = load_result(5.0 if passed else 80.0, rate=rate).to_dict()
                trials.append(
                    {
                        "rate_rps": rate,
                        "passed": passed,
                        "reason": "",
                        "confirm": False,
                        "result": result,
                        "repetition": rep,
                    }
                )
        repeats.append(
            {
                "p99_bound_ms": 50.0,
                "max_rate_rps": ok,
                "lowest_failing_rate_rps": fail,
                "limited_by_client": limited,
                "confirmed": None if limited else True,
                "note": "",
                "repetition": rep,
            }
        )
    return ServedResult(
        target=target,
        status="OK",
        mode="native",
        artifact="onnx",
        sweep=sweep,
        slo=combine_slo(repeats, trials),
        slo_repeats=repeats,
        repeat=len(slo_reps),
    )


def verdicts_of(make_results, *stacks: ServedResult) -> dict:
    return {v.key: v for v in all_verdicts(make_results(served=list(stacks)))}


def test_overlapping_latency_ranges_are_a_tie_naming_both(make_results, served):
    a = served("triton", {1: [2.0, 2.4, 2.2], 4: [3.0, 3.1, 3.2]}, [(500, 550)] * 3)
    b = served("fastapi_onnx", {1: [2.3, 2.6, 2.5], 4: [5.0, 5.5, 5.2]}, [(300, 330)] * 3)
    v = verdicts_of(make_results, a, b)["serving_latency"]
    assert v.winner is None and set(v.tied) == {"triton", "fastapi_onnx"}
    assert TIED in v.answer and stack_name("triton") in v.answer and stack_name("fastapi_onnx") in v.answer
    assert "at concurrency 1" in v.answer
    # The figures it rests on and their uncertainty: medians with (min-max) over 3 repetitions.
    assert "2.20 (2.00-2.40)" in v.answer and "2.50 (2.30-2.60)" in v.answer
    assert any("over 3 repetitions" in d for d in v.details)


def test_apart_latency_ranges_name_one_winner_with_its_spread(make_results, served):
    a = served("triton", {1: [2.0, 2.1, 2.2]}, [(500, 550)] * 3)
    b = served("fastapi_onnx", {1: [3.0, 3.2, 3.1]}, [(300, 330)] * 3)
    v = verdicts_of(make_results, a, b)["serving_latency"]
    assert v.winner == "triton" and not v.tied and "2.10 (2.00-2.20)" in v.answer


def test_the_serving_question_compares_stacks_at_a_concurrency_they_all_have(make_results, served):
    a = served("triton", {2: [2.0], 4: [3.0]}, [(500, 550)])
    b = served("fastapi_onnx", {1: [1.0], 4: [6.0]}, [(300, 330)])  # faster at c=1, which triton lacks
    v = verdicts_of(make_results, a, b)["serving_latency"]
    assert v.winner == "triton" and "at concurrency 4" in v.answer


def test_a_single_repetition_counts_figures_within_the_tolerance_as_a_tie(make_results, served):
    a = served("triton", {1: [2.0]}, [(500, 550)])
    b = served("fastapi_onnx", {1: [2.3]}, [(300, 330)])  # 15% apart: inside +-10% bands of each
    c = served("fastapi_litert", {1: [3.0]}, [(100, 110)])
    v = verdicts_of(make_results, a, b, c)["serving_latency"]
    assert v.tied == ["triton", "fastapi_onnx"] and any("measured once" in d for d in v.details)


def test_overlapping_slo_brackets_are_a_tie_and_apart_ones_a_winner(make_results, served):
    a = served("triton", {1: [2.0]}, [(575, 600), (550, 575), (575, 600)])
    b = served("fastapi_onnx", {1: [3.0]}, [(560, 590), (560, 590), (540, 560)])
    v = verdicts_of(make_results, a, b)["throughput"]
    assert v.winner is None and set(v.tied) == {"triton", "fastapi_onnx"} and TIED in v.answer
    assert "[550, 600)" in v.answer and "[540, 590)" in v.answer
    c = served("fastapi_onnx", {1: [3.0]}, [(300, 330), (310, 340), (300, 320)])
    v = verdicts_of(make_results, a, c)["throughput"]
    assert v.winner == "triton" and "575.0 req/s" in v.answer and "550.0-575.0 over 3 repetitions" in v.answer


def test_a_client_limited_lower_bound_is_never_ranked_against_a_measurement(make_results, served):
    measured = served("triton", {1: [2.0]}, [(575, 600)] * 2)
    # "at least 580": inside triton's bracket [575, 600) - it may be above or below: not ranked.
    bound = served("fastapi_onnx", {1: [3.0]}, [(580, 620)] * 2, limited=True)
    v = verdicts_of(make_results, measured, bound)["throughput"]
    assert v.winner == "triton" and not v.tied
    assert any("Not ranked" in d and "at least 580" in d for d in v.details)
    # A lower bound above the whole bracket of the best measurement does win, said as a lower bound.
    high = served("fastapi_onnx", {1: [3.0]}, [(900, 950)] * 2, limited=True)
    v = verdicts_of(make_results, measured, high)["throughput"]
    assert v.winner == "fastapi_onnx" and "at least 900" in v.answer and "lower bound" in v.answer
    # Nothing but lower bounds: no winner.
    v = verdicts_of(make_results, bound, dataclasses.replace(high, target="triton"))["throughput"]
    assert v.winner is None and "Not ranked" in v.answer


def test_in_process_paths_never_answer_the_serving_question(make_results, served):
    results = make_results()
    fastest_local = min(r["p50_ms"] for r in results.local if r["status"] == "OK")
    stack = served("triton", {1: [fastest_local * 50] * 2}, [(500, 550)] * 2)
    v = {x.key: x for x in all_verdicts(make_results(served=[stack]))}
    assert v["serving_latency"].winner == "triton"
    assert v["inprocess_latency"].winner is None or v["inprocess_latency"].winner in results.artifacts
    assert "in-process" not in v["serving_latency"].answer


def test_every_verdict_states_its_uncertainty(make_results, served):
    a = served("triton", {1: [2.0, 2.1]}, [(575, 600)] * 2)
    for v in verdicts_of(make_results, a).values():
        if v.key in ("serving_latency", "inprocess_latency", "throughput"):
            assert any("repetition" in d or "measured once" in d or "Uncertainty" in d for d in v.details), v.key


def test_tables_show_median_spread_and_p99_with_failures(make_results, served):
    a = served("triton", {1: [2.0, 2.4, 2.2]}, [(575, 600), (550, 575), (575, 600)])
    unbounded = copy.deepcopy(a.sweep[1])
    unbounded.update(p99_incl_failures_ms=None, dropped=30)
    a.sweep[1] = unbounded
    results = make_results(served=[a])
    sweep = tables.sweep_table(results)
    row = dict(zip(sweep.headers, sweep.rows[0]))
    assert row["repeats"] == "3" and row["p50 ms"] == "2.20 (2.00-2.40)"
    assert row["p99 incl. failures ms"] == "unbounded in 1 of 3"
    slo = dict(zip(tables.slo_table(results).headers, tables.slo_table(results).rows[0]))
    assert slo["max rate req/s median (min-max)"] == "575.0 (550.0-575.0)"
    assert slo["bracket [pass, fail) req/s"] == "[550, 600)" and slo["confirmed"] == "yes"


def test_a_search_where_the_client_always_fell_behind_is_not_called_a_server_failure(make_results, served):
    stack = served("triton", {1: [2.0]}, [(None, 200.0)], limited=True)
    v = verdicts_of(make_results, stack)["throughput"]
    assert v.winner is None and v.answer.startswith("Not measured: the load client fell behind")


def test_when_no_stack_meets_the_bound_the_answer_names_the_closest_miss(make_results, served):
    from deploy_compare.report.fmt import ms
    from deploy_compare.report.names import target_label

    a = served("triton", {1: [2.0]}, [(None, 40.0)])
    b = served("fastapi_onnx", {1: [3.0]}, [(None, 60.0), (None, 30.0)])  # its lowest rate: 30/s
    nearer = next(t["result"] for t in b.slo["trials"] if t["rate_rps"] == 30.0)
    nearer["p99_incl_failures_ms"] = 120.0  # over the 50 ms bound, under triton's
    v = verdicts_of(make_results, a, b)["throughput"]
    assert v.winner is None and "No served target showed" in v.answer
    assert f"Closest: {target_label(b)}, p99 {ms(120.0)} ms" in v.answer and "at 30.0 req/s" in v.answer
    assert "set the one this model must meet" in v.answer
    # Under the bound but not shown at the confidence asked: longer trials decide it.
    nearer["p99_incl_failures_ms"] = 40.0
    v = verdicts_of(make_results, a, b)["throughput"]
    assert f"p99 {ms(40.0)} ms" in v.answer and "a longer trial decides it ([slo] max_duration_s)" in v.answer
