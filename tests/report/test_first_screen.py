"""The report's first screen: one card per objective naming stack + runtime + encoding, its figure
and how sure it is, the runner-up and why it lost (or the tie); the chart behind it; every other
section collapsed; each chart a PNG for slides. Figures come from the fixtures in conftest.py."""

from __future__ import annotations

import copy

import pytest

from deploy_compare.report import HTML_NAME, MARKDOWN_NAME, plots_stacks, render_all
from deploy_compare.report.firstscreen import OBJECTIVES, cards
from deploy_compare.report.inputs import ReportInputs
from deploy_compare.report.names import runtime_name, stack_name, target_label

pytestmark = pytest.mark.unit


def by_objective(results) -> dict:
    return {c.objective: c for c in cards(results).cards}


def test_every_objective_has_a_card_naming_the_path_its_figure_and_the_runner_up(make_several_stacks):
    results = make_several_stacks()
    found = by_objective(results)
    assert list(found) == [objective for _, objective, _, _ in OBJECTIVES]
    triton, fastapi = results.served[1], results.served[2]
    # Latency at concurrency 1: Triton over binary (0.8x its JSON p50) beats the FastAPI baseline.
    latency = found["Lowest single-request latency"]
    assert latency.path == [("stack", "Triton"), ("runtime", "ONNX Runtime"), ("encoding", "binary")]
    binary_c1 = next(p for p in triton.encodings[0]["sweep"] if p["concurrency"] == 1)
    fastapi_c1 = next(p for p in fastapi.encodings[0]["sweep"] if p["concurrency"] == 1)
    assert latency.figure == f"p50 {binary_c1['p50_ms']:.3f} ms" and latency.uncertainty == "measured once"
    ratio = fastapi_c1["p50_ms"] / binary_c1["p50_ms"]
    assert latency.runner_up.startswith(f"Runner-up: {target_label(fastapi)} over binary")
    assert f"{ratio:.2f}x the leader's, slower beyond the uncertainty" in latency.runner_up and not latency.tied
    # The SLO: Triton's [900, 950) overlaps FastAPI's "at least 700, none failed": a tie, said so.
    rate = found["Highest rate within the SLO"]
    assert rate.figure == "900.0 req/s" and rate.uncertainty.startswith("bracket [900, 950)")
    assert rate.tied and rate.runner_up.startswith(f"Tied with {target_label(fastapi)}, at least 700.0 req/s")
    assert "SLO search ran on json: its first encoding" in rate.detail and "its best is binary" in rate.detail
    # With slo_encoding "best" the search's encoding was the best when chosen: its full sweep,
    # re-measured, can peak under another's, and the card says that, not "first".
    results.settings = {**results.settings, "load": {"slo_encoding": "best"}}
    chosen = by_objective(results)["Highest rate within the SLO"].detail
    assert "its best encoding when chosen" in chosen and "binary's peak is higher" in chosen, chosen
    assert "JSON's cost at c=16: JSON p50 1.25x binary's, 0.77x its throughput" in rate.detail
    # Cost: the cores given, priced, over the SLO rate; its band from the bracket.
    cost = found["Lowest cost per million inferences"]
    per_million = 0.044625 / 3600 * 1e6  # one core at the default price, per million at 1 req/s
    assert cost.figure == f"{per_million / 900:.4f} USD" and f"{per_million / 950:.4f} USD" in cost.uncertainty
    # Edge: the smallest file; int8: the variant that loses least, with the sample resolution.
    footprint = found["Smallest edge footprint"]
    assert ("artifact", "tflite_int8") in footprint.path and footprint.figure.endswith(f"{15_100 / 1024:,.1f} KiB file")
    assert footprint.figure.startswith("peak RSS ")  # judged on peak memory, the file size beside it
    assert "tflite_dynamic_int8" in footprint.runner_up and "larger" in footprint.runner_up
    accuracy = found["int8 accuracy cost"]
    assert ("artifact", "tflite_dynamic_int8") in accuracy.path and accuracy.figure == "accuracy -0.28 points"
    assert (
        "one sample is 0.28 points" in accuracy.uncertainty
        and "tflite_int8, accuracy -0.83 points" in accuracy.runner_up
    )


def test_a_card_shows_the_recorded_interval_else_the_range_over_repetitions(make_several_stacks):
    results = make_several_stacks()
    binary = results.served[1].encodings[0]["sweep"]
    c1 = next(p for p in binary if p["concurrency"] == 1)
    c1["p50_ci_ms"] = [c1["p50_ms"] * 0.9, None]  # the samples bound no upper end
    latency = by_objective(results)["Lowest single-request latency"]
    assert latency.uncertainty.startswith("95% interval ") and latency.uncertainty.endswith("-unbounded")
    del c1["p50_ci_ms"]
    # three repetitions of every point: the range over them
    for s in results.served[1:3]:
        for cell in (s.sweep, s.encodings[0]["sweep"]):
            extra = [
                {**copy.deepcopy(p), "repetition": r, "p50_ms": p["p50_ms"] * f}
                for p in cell
                for r, f in ((2, 1.1), (3, 0.95))
            ]
            cell.extend(extra)
    latency = by_objective(results)["Lowest single-request latency"]
    assert latency.uncertainty.startswith("range ") and latency.uncertainty.endswith("over 3 repetitions")


def test_no_measurement_means_no_recommendation_and_the_reason(make_results):
    results = make_results(served=[make_results().served[1]])  # TF Serving SKIPPED only
    found = by_objective(results)
    for objective in (
        "Lowest single-request latency",
        "Highest rate within the SLO",
        "Lowest cost per million inferences",
    ):
        card = found[objective]
        assert card.path == [] and card.runner_up == "No path to recommend." and card.detail
    assert "SKIPPED" in found["Lowest single-request latency"].detail


def test_short_labels_name_stack_and_runtime(make_several_stacks):
    results = make_several_stacks()
    assert [target_label(s) for s in results.served] == [
        "TorchServe · TorchScript",
        "Triton · ONNX Runtime",
        "FastAPI · ONNX Runtime",
        "TF Serving",
    ]
    assert runtime_name("tflite_dynamic_int8") == "LiteRT int8" and stack_name("fastapi_litert") == "FastAPI"


def test_the_page_opens_on_the_answer_and_collapses_the_rest(make_run, make_several_stacks):
    run_dir = make_run(make_several_stacks())
    render_all(run_dir)
    html = (run_dir / HTML_NAME).read_text()
    answer = html.index('<section id="answer">')
    assert answer < html.index('class="cards"') < html.index('id="fig-slo_rates"') < html.index("short label")
    for key in ("headline", "verdicts", "served", "server", "latency", "local", "artifacts", "edge", "run", "settings"):
        assert f'<details class="section" id="{key}">' in html, key
    assert html.count('<details class="rows">') >= 2  # sweep levels and SLO trials inside "Served targets"
    md = (run_dir / MARKDOWN_NAME).read_text()
    assert md.index("## The answer") < md.index("### Lowest single-request latency") < md.index("## Served targets")
    charts = {p.stem for p in (run_dir / "charts").glob("*.png")}
    assert {"slo_rates", "latency_by_stack", "time_split", "batch_samples", "edge_latency"} <= charts


def test_each_chart_draws_with_data_and_says_none_without(make_several_stacks, make_results):
    results = make_several_stacks()
    inputs = ReportInputs(results)
    for chart in (
        plots_stacks.slo_rates,
        plots_stacks.latency_by_stack,
        plots_stacks.time_split,
        plots_stacks.batch_samples,
    ):
        png = chart(results)
        assert png and png.startswith(b"\x89PNG"), chart.__name__
    assert plots_stacks.edge_latency(inputs)
    empty = make_results(served=[], local=[])
    for chart in (
        plots_stacks.slo_rates,
        plots_stacks.latency_by_stack,
        plots_stacks.time_split,
        plots_stacks.batch_samples,
    ):
        assert chart(empty) is None, chart.__name__
    assert plots_stacks.edge_latency(ReportInputs(empty)) is None


def test_the_time_split_adds_up_to_the_mean_and_starts_with_the_runtime(make_several_stacks):
    results = make_several_stacks()
    triton = results.served[1]
    parts = plots_stacks.split_of(results, triton, 1)
    point = next(p for p in triton.sweep if p["concurrency"] == 1)
    assert sum(parts) == pytest.approx(point["mean_ms"])
    runtime = plots_stacks.runtime_ms(results, triton)
    onnx = [r for r in results.local if r["artifact"] == "onnx" and r["profile"] == "server" and r["threads"] == 1]
    assert runtime == pytest.approx(onnx[0]["mean_ms"])  # one server core: the one-thread row
    split = point["server"]["split"]
    assert parts[0] == pytest.approx(min(runtime, split["compute_ms"])) and parts[2] == pytest.approx(split["queue_ms"])
    # a stack without queue/compute metrics: the runtime and the rest of the stack, unsplit
    torchserve = plots_stacks.split_of(results, results.served[0], 1)
    assert torchserve[1:4] == [0.0, 0.0, 0.0] and sum(torchserve) == pytest.approx(
        results.served[0].sweep[0]["mean_ms"]
    )


def test_an_int8_runner_up_is_compared_in_points_even_when_both_gain():
    from deploy_compare.report.firstscreen import why_it_lost
    from deploy_compare.report.verdicts import Candidate, Verdict

    def gain(name: str, points: float) -> Candidate:
        return Candidate(name, name, (("artifact", name),), f"accuracy {points:+.2f} points", "", points)

    lead, runner = gain("tflite_int8", 2.7), gain("onnx_int8", 1.1)
    v = Verdict("accuracy", "int8 accuracy cost", "", lead.name, [], [], [lead, runner], "higher")
    line = why_it_lost(v, lead, runner, "loses more")
    assert "-1.60 points against the leader" in line and "x the leader's" not in line
