"""results.csv and the report's headline for the request batch sizes, the tune stage and the
cold start, on the reference run (conftest.py) with those records added from the real result
classes (LoadResult, SloResult, ColdStart, the tune stage's rows via best_of)."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from deploy_compare.clients.results import SloResult, SloTrial
from deploy_compare.deploy.coldstart import ColdStart
from deploy_compare.deploy.tune import best_of, setting_label
from deploy_compare.report import CSV_NAME, MARKDOWN_NAME, render_all
from deploy_compare.report.render_csv import BASE_COLUMNS, render_csv
from deploy_compare.report.tuning import headline_table

pytestmark = pytest.mark.unit

#: the columns results.csv had before batch sizes, tuning and cold start got rows: still in order
EARLIER_TAIL = ("errors", "top1_agreement", "client_bottleneck", "client_processes", "slo_p99_bound_ms")


def _batched(load_result, p50: float, batch: int, **kw):
    r = load_result(p50, **kw)
    return dataclasses.replace(r, batch_size=batch, throughput_samples_per_s=r.throughput_rps * batch)


def _search(load_result, batch: int, rates: dict[float, bool]) -> dict:
    trials = [
        SloTrial(rate, ok, "" if ok else "p99 61.00 ms > 50 ms", _batched(load_result, 9.0, batch, rate=rate))
        for rate, ok in rates.items()
    ]
    passing = max(r for r, ok in rates.items() if ok)
    failing = min((r for r, ok in rates.items() if not ok), default=None)
    return SloResult(50.0, passing, failing, False, trials, confirmed=True).to_dict()


def _tuning(load_result) -> dict:
    def row(setting, rate, **extra):
        return {"setting": setting, "label": setting_label(setting), "max_rate_rps": rate,
                "max_rate_samples_per_s": rate, "limited_by_client": False, **extra}  # fmt: skip

    tuning = {
        "batch_size": 1,
        "p99_bound_ms": 50.0,
        "default": row({}, 400.0, source="served stage"),
        "trials": [
            row(
                {"batch_size": 8, "max_batch_delay_ms": 5},
                700.0,
                status="OK",
                slo=_search(load_result, 1, {400.0: True, 800.0: False, 700.0: True}),
            ),
            row({"workers": 2}, None, status="FAILED", reason="out of memory: 2048 MiB"),
        ],
        "seconds": 90.0,
    }
    tuning["best"] = best_of(tuning)
    return tuning


@pytest.fixture
def workload_results(make_results, make_load_result):
    """The reference run; TorchServe also measured at 8 and 32 samples per request (batch 8 in
    two repetitions), tuned, and started twice (two cold starts)."""
    results = make_results()
    ts = results.served[0]
    ts.batches = [
        {
            "batch_size": 8,
            "repetition": rep,
            "sweep": [_batched(make_load_result, 6.0, 8, concurrency=4).to_dict()],
            "slo": _search(make_load_result, 8, {50.0: True, 100.0: True, 200.0: False, 150.0: False}),
            "slo_start_rate_rps": 50.0,
            "slo_start_from": "batch 1's SLO rate 400 req/s x 1/8",
        }
        for rep in (1, 2)
    ] + [
        {
            "batch_size": 32,
            "repetition": 1,
            "sweep": [],
            "slo": _search(make_load_result, 32, {12.5: True, 25.0: False}),
        }
    ]
    ts.batches.append(  # a size the server refused (served._measure_batch): FAILED on its own entry
        {"batch_size": 64, "repetition": 1, "sweep": [], "slo": None, "status": "FAILED", "reason": "HTTP 413"}
    )
    ts.tuning = _tuning(make_load_result)
    ts.cold_start_repeats = [
        {**ColdStart(6.2, 6.9, [40.0, 3.1, 2.2, 2.1, 2.0]).to_dict(), "repetition": 1},
        {**ColdStart(6.0, 6.5, [38.0, 3.0], note="only 2 of 5 first requests answered").to_dict(), "repetition": 2},
    ]
    ts.cold_start = ts.cold_start_repeats[0]
    return results


def _rows(results):
    return list(csv.DictReader(io.StringIO(render_csv(results))))


def test_csv_keeps_its_columns_and_adds_batch_tuning_and_cold_start_ones_at_the_end(workload_results):
    header = render_csv(workload_results).splitlines()[0].split(",")
    assert tuple(header[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    earlier = [header.index(c) for c in EARLIER_TAIL]
    assert earlier == sorted(earlier)
    added = ["batch_size", "throughput_samples_per_s", "slo_max_rate_samples_per_s", "setting", "tune_best"]
    assert min(header.index(c) for c in added) > header.index("response_bytes")


def test_csv_has_a_row_per_batch_size_point_search_and_trial(workload_results):
    ts = workload_results.served[0]
    rows = [r for r in _rows(workload_results) if r["target"] == "torchserve"]
    served = [r for r in rows if r["kind"] == "served" and r["status"] == "OK"]
    assert {r["batch_size"] for r in served} == {"1", "8"}
    b8 = [r for r in served if r["batch_size"] == "8"]
    assert [(r["concurrency"], r["repetition"]) for r in b8] == [("4", "1"), ("4", "2")]
    for r in b8:  # samples/s = req/s x 8, both columns filled
        assert float(r["throughput_samples_per_s"]) == pytest.approx(8 * float(r["throughput_rps"]))
    assert all(r["batch_size"] == "1" for r in served if r["batch_size"] != "8") and len(served) == len(ts.sweep) + 2

    slo = {r["batch_size"]: r for r in rows if r["kind"] == "slo"}
    assert set(slo) == {"1", "8", "32"}
    assert float(slo["1"]["slo_max_rate_rps"]) == ts.slo["max_rate_rps"]
    assert float(slo["8"]["slo_max_rate_rps"]) == 100.0 and float(slo["8"]["slo_max_rate_samples_per_s"]) == 800.0
    assert float(slo["32"]["slo_max_rate_samples_per_s"]) == 400.0
    trials = [r for r in rows if r["kind"] == "slo_trial"]
    assert len(trials) == len(ts.slo["trials"]) + 2 * 4 + 2
    b8_trials = [(r["repetition"], float(r["offered_rate_rps"])) for r in trials if r["batch_size"] == "8"]
    assert b8_trials == [(rep, rate) for rep in ("1", "2") for rate in (50.0, 100.0, 150.0, 200.0)]
    assert {r["slo_passed"] for r in trials if r["batch_size"] == "32"} == {"true", "false"}
    [refused] = [r for r in rows if r["kind"] == "served" and r["status"] == "FAILED"]
    assert refused["batch_size"] == "64" and refused["reason"] == "HTTP 413"


def test_csv_has_a_row_per_tuned_setting_with_the_best_marked_and_its_trials(workload_results):
    rows = [r for r in _rows(workload_results) if r["target"] == "torchserve"]
    tune = {r["setting"]: r for r in rows if r["kind"] == "tune"}
    assert list(tune) == ["defaults", "batch_size=8, max_batch_delay_ms=5", "workers=2"]
    best = tune["batch_size=8, max_batch_delay_ms=5"]
    assert best["tune_best"] == "true" and float(best["tune_gain_vs_default"]) == pytest.approx(700 / 400)
    assert float(best["slo_max_rate_rps"]) == 700.0 and best["batch_size"] == "1"
    assert tune["defaults"]["tune_best"] == "false" and float(tune["defaults"]["slo_max_rate_rps"]) == 400.0
    assert tune["workers=2"]["status"] == "FAILED" and "out of memory" in tune["workers=2"]["reason"]
    tune_trials = [r for r in rows if r["kind"] == "tune_trial"]
    assert [float(r["offered_rate_rps"]) for r in tune_trials] == [400.0, 700.0, 800.0]
    assert {r["setting"] for r in tune_trials} == {best["setting"]}


def test_csv_has_a_cold_start_row_per_launch(workload_results):
    rows = [r for r in _rows(workload_results) if r["kind"] == "cold_start"]
    assert [(r["target"], r["repetition"]) for r in rows] == [("torchserve", "1"), ("torchserve", "2")]
    assert float(rows[0]["launch_to_first_inference_s"]) == 6.9 and float(rows[1]["launch_to_healthy_s"]) == 6.0
    assert rows[0]["first_requests_ms"] == "40.0;3.1;2.2;2.1;2.0"
    assert "only 2 of 5" in rows[1]["reason"]


def test_the_headline_shows_defaults_vs_tuned_and_what_batching_bought_in_samples(workload_results, make_run):
    table = headline_table(workload_results)
    ts, skipped = table.rows
    cells = dict(zip(table.headers, ts, strict=True))
    assert cells["defaults: SLO rate"] == "400.0 req/s"
    assert cells["tuned: best setting"] == "batch_size=8, max_batch_delay_ms=5"
    assert cells["tuned: SLO rate"] == "700.0 req/s" and cells["tuned vs defaults"] == "1.75x"
    # batch 1: 400 req/s; batch 8: 100 req/s (median of two equal searches) = 800 samples/s is the best
    first, best = (cells[h] for h in table.headers if h.startswith("batching: "))
    assert first == "1 x 400.0 req/s = 400.0 samples/s" and best == "8 x 100.0 req/s = 800.0 samples/s"
    assert cells["batching bought (samples/s)"] == "2.0x"
    assert "failed to run: workers=2" in cells["note"] and "FAILED batch 64: HTTP 413" in cells["note"]
    assert skipped[0].startswith("TF Serving") and skipped[-1].startswith("SKIPPED: ")
    run_dir = make_run(workload_results, edge=False)
    render_all(run_dir)
    md = (run_dir / MARKDOWN_NAME).read_text()
    assert md.index("The answer") < md.index("Headline: tuned vs defaults") < md.index("Every verdict in full")
    assert "8 x 100.0 req/s = 800.0 samples/s" in md
    assert (run_dir / CSV_NAME).read_text() == render_csv(workload_results, [])


def test_no_headline_without_tuning_or_batch_sizes(make_results):
    assert headline_table(make_results()).rows == []
