"""`run --repeat N` repeats the in-process stage too: every repetition's rows are kept, and every
view (tables, verdicts, csv, edge tables, diff) sees one row per artifact/profile/threads with
the median over the OK repetitions and its spread; a later repetition's failure loses nothing."""

from __future__ import annotations

import copy
import csv
import io

import jsonschema
import pytest

from deploy_compare.bench_local.result import BenchResult
from deploy_compare.bench_local.schema import load_schema
from deploy_compare.deploy.budget import time_left
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.plan import served_plan, stage_plan
from deploy_compare.deploy.results import validate
from deploy_compare.errors import ConfigError
from deploy_compare.repeats import by_bench_key, combine_bench
from deploy_compare.report import tables
from deploy_compare.report.diff import SPREAD, TOLERANCE, diff_runs, figures
from deploy_compare.report.names import local_rows, ok_local
from deploy_compare.report.render_csv import render_csv
from deploy_compare.report.verdicts import inprocess_latency_verdict

pytestmark = pytest.mark.unit

ONNX_T1 = ("onnx", "server", 1)


def _repeated(results, factors: list[float]):
    """results whose in-process rows were measured once per factor (latencies times it,
    throughputs divided by it), numbered 1..N, in run order (repetition 1's rows first)."""
    out = copy.deepcopy(results)
    rows = []
    for rep, f in enumerate(factors, 1):
        for r in results.local:
            q = copy.deepcopy(r)
            q["repetition"] = rep
            if q["status"] == "OK":
                for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"):
                    q[key] = r[key] * f
                q["throughput_samples_per_s"] = {b: v / f for b, v in r["throughput_samples_per_s"].items()}
            rows.append(q)
    out.local = rows
    return out


def _row(rows, key=ONNX_T1):
    return next(r for r in rows if (r["artifact"], r["profile"], r["threads"]) == key)


def test_repeated_rows_validate_and_older_rows_without_a_repetition_still_do(make_results):
    results = _repeated(make_results(), [1.0, 1.2])
    validate(results.to_dict())
    schema = load_schema()["properties"]["results"]["items"]
    row = BenchResult.from_dict(_row(results.local))  # the dataclass takes the field back
    assert row.repetition == 1 and _row(results.local[len(results.local) // 2 :])["repetition"] == 2
    jsonschema.validate(row.to_dict(), schema)
    old = {k: v for k, v in row.to_dict().items() if k != "repetition"}  # an older file / edge bundle
    jsonschema.validate(old, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**old, "repetition": 0}, schema)


def test_views_see_one_row_per_key_with_the_median_and_the_range(make_results):
    once = make_results()
    results = _repeated(once, [1.0, 1.3, 0.9])
    rows = local_rows(results)
    assert len(rows) == len(once.local)  # one per artifact/profile/threads, in run order
    assert [(r["artifact"], r["profile"], r["threads"]) for r in rows] == [
        (r["artifact"], r["profile"], r["threads"]) for r in once.local
    ]
    base = _row(once.local)
    merged = _row(rows)
    assert merged["p50_ms"] == pytest.approx(base["p50_ms"])  # the median of 0.9x, 1x, 1.3x
    assert merged["throughput_samples_per_s"]["8"] == pytest.approx(base["throughput_samples_per_s"]["8"])
    assert merged["repetitions"] == 3 and merged["status"] == "OK"
    # The table shows median (min-max), as the served tables do; one repetition: the figure alone.
    table = tables.bench_table(rows)
    cell = table.rows[rows.index(merged)][table.headers.index("p50 ms")]
    lo, hi = tables.ms(base["p50_ms"] * 0.9), tables.ms(base["p50_ms"] * 1.3)
    assert cell == f"{tables.ms(base['p50_ms'])} ({lo}-{hi})"
    samples = table.rows[rows.index(merged)][table.headers.index("samples/s per batch size")]
    assert "bs8: " in samples and "(" in samples.split("bs8: ")[1]
    single = tables.bench_table(local_rows(once))
    assert "(" not in single.rows[0][single.headers.index("p50 ms")]
    # results.csv: one local row per key, the median figures
    parsed = list(csv.DictReader(io.StringIO(render_csv(results))))
    local = [r for r in parsed if r["kind"] == "local"]
    assert len(local) == len(once.local)
    onnx = next(r for r in local if (r["artifact"], r["profile"], r["threads"]) == ("onnx", "server", "1"))
    assert float(onnx["p50_ms"]) == pytest.approx(base["p50_ms"])
    # The in-process verdict rests on the spread over repetitions.
    verdict = inprocess_latency_verdict(results)
    assert "over 3 repetitions" in " ".join(verdict.details)
    assert "onnx" in verdict.answer  # the fastest median (ranges this wide may tie it with others)


def test_a_repetition_that_failed_keeps_the_other_repetitions_figures_and_says_so(make_results):
    results = _repeated(make_results(), [1.0, 1.5])
    second = _row(results.local[len(results.local) // 2 :])
    assert second["repetition"] == 2
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "iterations"):
        second[key] = None
    second.update(status="FAILED", reason="measurement process exited with code -9", throughput_samples_per_s={})
    merged = _row(local_rows(results))
    first = _row(results.local)
    assert merged["status"] == "OK" and merged["p50_ms"] == first["p50_ms"]  # repetition 1's figures
    assert "repetition 2 FAILED: measurement process exited with code -9" in merged["reason"]
    assert "median of the 1 OK of 2 repetitions" in merged["reason"] and merged["reason"] in merged["notes"]
    assert merged in ok_local(results, "server")
    table = tables.bench_table(local_rows(results))
    row = next(r for r in table.rows if r[:3] == ["onnx", "onnxruntime", "server, 1 thread"])
    assert row[table.headers.index("status")] == "OK" and "repetition 2 FAILED" in row[-1]
    # diff: the row stays OK with repetition 1's figures (one repetition left: the tolerance rule)
    fig = figures(results)
    assert fig["local onnx server t=1 status"].value == "OK"
    assert fig["local onnx server t=1 p50_ms"].value.n == 1
    # A row failing in every repetition stays FAILED with its first reason.
    failed = _row(local_rows(results), ("savedmodel", "edge", 1))
    assert failed["status"] == "FAILED" and failed["reason"] and failed["repetitions"] == 2


def test_combine_bench_groups_by_artifact_profile_threads_and_device():
    rows = [
        {"artifact": "a", "profile": "server", "threads": 1, "device": "local", "status": "OK", "p50_ms": 2.0},
        {"artifact": "a", "profile": "server", "threads": 2, "device": "local", "status": "OK", "p50_ms": 1.0},
        {"artifact": "a", "profile": "server", "threads": 1, "device": "local", "status": "OK", "p50_ms": 4.0},
        {"artifact": "a", "profile": "server", "threads": 1, "device": "pi", "status": "OK", "p50_ms": 9.0},
    ]
    rows[2]["repetition"] = 2
    groups = by_bench_key(rows)
    assert [len(g) for g in groups] == [2, 1, 1]
    merged = combine_bench(groups[0])
    assert merged["p50_ms"] == 3.0 and merged["repetitions"] == 2
    with pytest.raises(ValueError):
        combine_bench([])


def test_diff_judges_in_process_figures_by_their_spread(make_results):
    base = make_results()
    a = _repeated(base, [0.9, 1.0, 1.1])  # each run's own range: 20% of the median
    b = _repeated(base, [1.15, 1.25, 1.35])  # medians 25% apart: beyond 10%, inside 20% + 20%
    report = diff_runs(a, b, 0.10)
    assert not report.regressions and report.a_repetitions == 3
    row = next(r for r in report.rows if r.key == "local onnx server t=1 p50_ms")
    # a latency over three repetitions: their t-intervals overlap, so it is tied (issue 23)
    assert row.rule == "interval" and row.note == "tied" and row.change_pct == pytest.approx(25.0)
    thr = next(r for r in report.rows if r.key == "local onnx server t=1 bs8_samples_per_s")
    assert thr.rule == SPREAD and not thr.regression
    worse = _repeated(base, [1.5, 1.6, 1.7])  # 60% apart: beyond 20% + 20%
    flagged = {r.key for r in diff_runs(a, worse, 0.10).regressions}
    assert {"local onnx server t=1 p50_ms", "local onnx server t=1 bs8_samples_per_s"} <= flagged
    # One repetition in either run: the tolerance stands in for the spread.
    once = diff_runs(base, b, 0.10)
    row = next(r for r in once.rows if r.key == "local onnx server t=1 p50_ms")
    assert row.rule == TOLERANCE and row.regression


def test_the_stage_order_interleaves_the_in_process_stage_with_the_stacks():
    assert [name for name, _, _ in stage_plan(["torchserve", "triton"], 1)] == ["local", "torchserve", "triton"]
    plan = stage_plan(["torchserve", "triton"], 2)
    assert [name for name, _, _ in plan] == [
        "local 1/2",
        "torchserve 1/2",
        "triton 1/2",
        "local 2/2",
        "torchserve 2/2",
        "triton 2/2",
    ]
    assert [(kind, rep) for _, kind, rep in plan if kind is None] == [(None, 1), (None, 2)]
    assert [p for p in plan if p[1] is not None] == served_plan(["torchserve", "triton"], 2)
    assert [name for name, _, _ in stage_plan([], 3)] == ["local 1/3", "local 2/3", "local 3/3"]


def test_the_time_left_counts_in_process_repetitions_at_the_first_ones_duration():
    config = load_run_config(quick=True, overrides={"run": {"repeat": 3, "targets": []}})
    assert time_left(config, ["local 2/3", "local 3/3"]) == ""  # nothing measured yet: no guess
    assert time_left(config, ["local 2/3", "local 3/3"], 90.0) == (
        "about 3 min left: served stages estimated from the settings, 2 in-process repetition(s) "
        "at the first one's 1.5 min"
    )


def test_local_artifacts_are_checked_before_any_work():
    assert load_run_config().local_artifacts() == []  # every artifact the export verified
    config = load_run_config(overrides={"local": {"artifacts": ["onnx", "tflite_int8"]}})
    config.validate()
    assert config.local_artifacts() == ["onnx", "tflite_int8"]
    assert config.bench_config().profiles  # the [local] table still builds its BenchConfig
    with pytest.raises(ConfigError, match="unknown tflite_int9"):
        load_run_config(overrides={"local": {"artifacts": ["tflite_int9"]}}).validate()
    with pytest.raises(ConfigError, match="a list of artifact names"):
        load_run_config(overrides={"local": {"artifacts": "onnx"}}).validate()
