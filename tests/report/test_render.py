"""The report views (CSV, Markdown, HTML) and their verdicts, on a run built from the real result classes."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import re

import pytest

from deploy_compare.cli import main
from deploy_compare.deploy.results import ServedResult, load_results
from deploy_compare.report import CSV_NAME, HTML_NAME, MARKDOWN_NAME, render_all
from deploy_compare.report.names import target_label, target_name
from deploy_compare.report.verdicts import all_verdicts

pytestmark = pytest.mark.unit


def _read(run_dir):
    return {name: (run_dir / name).read_text(encoding="utf-8") for name in (CSV_NAME, MARKDOWN_NAME, HTML_NAME)}


def _views(run_dir):
    render_all(run_dir)
    return _read(run_dir)


def _html_text(html: str) -> str:
    """Visible text of the page (tags dropped, entities of the characters we escape undone)."""
    text = re.sub(r"<[^>]+>", " ", html)
    return (
        text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#x27;", "'")
    )


def test_every_target_reason_and_error_appears_in_md_and_html(
    reference_run, tfserving_skip_reason, savedmodel_edge_error
):
    run_dir = reference_run
    results = load_results(run_dir)
    views = _read(run_dir)
    for view in (views[MARKDOWN_NAME], _html_text(views[HTML_NAME])):
        for s in results.served:
            assert target_label(s) in view
        for artifact in results.artifacts:
            assert artifact in view
        assert tfserving_skip_reason in view
        assert savedmodel_edge_error in view
        assert "SKIPPED" in view and "FAILED" in view
        assert "INTERRUPTED RUN" not in view


def test_failed_target_error_and_no_slo_search(make_run, make_results):
    error = "TorchServe did not become healthy within 120 s: java.lang.OutOfMemoryError: Java heap space"
    served = [
        ServedResult(target="torchserve", status="FAILED", reason=error, mode="native"),
        ServedResult(target="tfserving", status="SKIPPED", reason="no Docker engine answers"),
    ]
    results = make_results(served=served)
    views = _views(make_run(results))
    for view in (views[MARKDOWN_NAME], _html_text(views[HTML_NAME])):
        assert error in view and "no Docker engine answers" in view
        assert "No served target could run the SLO search" in view
    throughput = {v.key: v for v in all_verdicts(results)}["throughput"]
    assert throughput.winner is None and error in throughput.answer
    rows = list(csv.DictReader(io.StringIO(views[CSV_NAME])))
    assert {(r["target"], r["status"], r["reason"]) for r in rows if r["kind"] == "served"} == {
        ("torchserve", "FAILED", error),
        ("tfserving", "SKIPPED", "no Docker engine answers"),
    }


def test_interrupted_run_is_marked_incomplete_at_the_top(make_run, make_results):
    base = make_results()
    run = dataclasses.replace(base.run, complete=False, interrupted=True, finished_utc=None, wall_s=None)
    torchserve = dataclasses.replace(
        base.served[0], status="INTERRUPTED", reason="Ctrl-C during the SLO search", slo=None
    )
    views = _views(make_run(make_results(run=run, served=[torchserve])))
    md, html = views[MARKDOWN_NAME], views[HTML_NAME]
    # Above the first section, and the target that never started is still listed.
    assert md.index("INTERRUPTED RUN") < md.index("## ")
    assert html.index("INTERRUPTED RUN") < html.index("<section")
    for view in (md, _html_text(html)):
        assert "Ctrl-C during the SLO search" in view
        assert "NOT RUN" in view and "tfserving" in view


def test_verdicts_name_the_fixture_winners(make_results):
    results = make_results()
    verdicts = {v.key: v for v in all_verdicts(results)}
    local = [r for r in results.local if r["status"] == "OK" and r["profile"] == "server"]
    fastest = min(local, key=lambda r: r["p50_ms"])
    served_c1 = {s.target: min(s.sweep, key=lambda p: p["concurrency"]) for s in results.served if s.sweep}
    assert fastest["p50_ms"] < min(p["p50_ms"] for p in served_c1.values())  # the fixture's premise
    # In-process paths answer their own question; the fixture's measured-once p50s within 10% of
    # the fastest are a tie, named as such.
    inprocess = verdicts["inprocess_latency"]
    close = {r["artifact"] for r in local if r["p50_ms"] <= fastest["p50_ms"] * 1.1**2}
    assert set(inprocess.tied) == close and fastest["artifact"] in inprocess.tied
    assert "tied within measurement resolution" in inprocess.answer and inprocess.winner is None
    # The serving question names a served stack, never an in-process path, at a stated concurrency.
    serving = verdicts["serving_latency"]
    best_served = min(served_c1, key=lambda t: served_c1[t]["p50_ms"])
    assert serving.winner == best_served and target_name(best_served) in serving.answer
    assert "at concurrency 1" in serving.answer and fastest["artifact"] not in serving.answer

    searched = {s.target: s.slo["max_rate_rps"] for s in results.served if s.slo}
    best_rate = max(searched, key=searched.get)
    assert verdicts["throughput"].winner == best_rate
    assert f"{searched[best_rate]:,.1f} req/s" in verdicts["throughput"].answer

    tflite = {k: e for k, e in results.artifacts.items() if e["format"] == "tflite"}
    smallest = min(tflite, key=lambda k: tflite[k]["size_bytes"])
    assert verdicts["footprint"].winner == smallest and smallest in verdicts["footprint"].answer
    assert f"{tflite[smallest]['size_bytes'] / 1024:,.1f} KiB" in verdicts["footprint"].answer

    costs = {
        k: (e["parity"]["accuracy"] - e["parity"]["reference_accuracy"]) * 100
        for k, e in results.artifacts.items()
        if e["variant"] in ("fp16", "dynamic_int8", "int8")
    }
    worst = min(costs, key=costs.get)
    assert verdicts["accuracy"].winner == worst
    assert f"{costs[worst]:.2f} points" in verdicts["accuracy"].answer
    for name, delta in costs.items():  # every quantized variant's cost is stated
        assert any(d.startswith(f"{name} (") and f"{delta:+.2f} points" in d for d in verdicts["accuracy"].details)


def test_verdict_sentences_appear_in_both_views(reference_run):
    run_dir = reference_run
    views = _read(run_dir)
    for v in all_verdicts(load_results(run_dir)):
        assert v.answer in views[MARKDOWN_NAME]
        assert v.answer in _html_text(views[HTML_NAME])


def test_rerender_is_byte_identical(make_run, capsys):
    run_dir = make_run()

    def written(paths) -> dict[str, bytes]:  # the views, and every chart under charts/
        files = [f for p in paths for f in (sorted(p.glob("*.png")) if p.is_dir() else [p])]
        return {str(f.relative_to(run_dir)): f.read_bytes() for f in files}

    first = written(render_all(run_dir))
    assert "charts/latency_by_stack.png" in first
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    second = {name: (run_dir / name).read_bytes() for name in first}
    assert first == second


def test_results_csv_has_a_row_per_measured_thing(reference_run):
    run_dir = reference_run
    results = load_results(run_dir)
    rows = list(csv.DictReader(io.StringIO(_read(run_dir)[CSV_NAME])))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("local") == len(results.local)
    torchserve = results.served[0]
    assert kinds.count("served") == len(torchserve.sweep) + 1  # + the SKIPPED tfserving row
    assert kinds.count("slo") == 1 and kinds.count("slo_trial") == len(torchserve.slo["trials"])
    assert kinds.count("edge") > 0 and all(r["device"] == "rpi4" for r in rows if r["kind"] == "edge")
    served = {int(r["concurrency"]): r for r in rows if r["kind"] == "served" and r["target"] == "torchserve"}
    for point in torchserve.sweep:
        assert float(served[point["concurrency"]]["p99_ms"]) == pytest.approx(point["p99_ms"])
    assert {"p50_ms", "p99_ms", "throughput_rps", "offered_rate_rps", "file_size_bytes", "rss_growth_mib"} <= set(
        rows[0]
    )


def test_html_is_self_contained(reference_run):
    html = _read(reference_run)[HTML_NAME]
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    # every chart inline, and the same charts as files for slides
    charts = sorted((reference_run / "charts").glob("*.png"))
    assert len(images) == len(charts) >= 6
    for chart in charts:
        assert f"data:image/png;base64,{base64.b64encode(chart.read_bytes()).decode()}" in images


def test_wide_tables_scroll_in_a_box_a_screen_high(reference_run):
    html = _read(reference_run)[HTML_NAME]
    tables = html.count("<table>")
    assert tables > 5 and html.count('<div class="scroll"><table>') == tables
    scroll_rule = re.search(r"\.scroll \{([^}]*)\}", html).group(1)
    # overflow in both directions, and never taller than the window: the horizontal
    # scrollbar of a long table (the in-process one) is on screen, not 20 rows down.
    assert "overflow: auto" in scroll_rule and "max-height: 85vh" in scroll_rule
    assert re.search(r"th \{[^}]*position: sticky; top: 0", html)


def test_header_environment_and_edge_device(reference_run):
    run_dir = reference_run
    md = _read(run_dir)[MARKDOWN_NAME]
    import json

    env = json.loads((run_dir / "environment.json").read_text())
    assert env["cpu_model"] in md and env["git_commit"] in md and "digits_cnn" in md
    edge = json.loads((run_dir / "edge" / "rpi4.json").read_text())
    assert "Device rpi4" in md and edge["results"][0]["machine"]["cpu_model"] in md


def test_missing_keys_render_as_dashes(make_run, make_results):
    """Older or partial result dicts: absent keys become "-" instead of crashing the report."""
    sparse_local = [{"artifact": "onnx", "profile": "server", "threads": 1, "status": "OK"}]
    sparse_served = [
        ServedResult(
            target="torchserve",
            status="OK",
            sweep=[{"concurrency": 1}, {"p50_ms": "n/a"}],
            slo={"trials": [{"rate_rps": 10.0}]},
        )
    ]
    results = make_results(local=sparse_local, served=sparse_served, model=None, artifacts={})
    views = _views(make_run(results, edge=False))
    assert "| onnx | - |" in views[MARKDOWN_NAME]
    assert "TorchServe" in views[MARKDOWN_NAME] and "No TFLite variant was exported" in views[MARKDOWN_NAME]
    assert list(csv.DictReader(io.StringIO(views[CSV_NAME])))


def test_report_command_names_a_missing_run(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) != 0
    assert "nope" in capsys.readouterr().err
