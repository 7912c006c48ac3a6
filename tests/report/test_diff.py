"""`deploy-compare diff`: regressions beyond the tolerance are flagged (exit 1), improvements are not."""

from __future__ import annotations

import copy

import pytest

from deploy_compare.cli import main
from deploy_compare.report.diff import ACCURACY_POINTS, diff_runs

pytestmark = pytest.mark.unit


def _scaled_served(results, key: str, factor: float, concurrency: int):
    served = copy.deepcopy(results.served)
    for point in served[0].sweep:
        if point["concurrency"] == concurrency:
            point[key] *= factor
    return served


def test_identical_runs_have_no_regression(make_results):
    report = diff_runs(make_results(), make_results(), 0.10)
    assert report.rows and not report.regressions
    assert all(r.change_pct in (None, 0.0) for r in report.rows)


def test_latency_regression_is_flagged_and_improvements_are_not(make_results):
    a = make_results()
    b = make_results(served=_scaled_served(a, "p99_ms", 1.5, 4))
    b.served = _scaled_served(b, "p50_ms", 0.5, 1)  # faster: an improvement
    b.served = _scaled_served(b, "throughput_rps", 2.0, 16)  # more throughput: an improvement
    report = diff_runs(a, b, 0.10)
    assert [r.key for r in report.regressions] == ["served torchserve c=4 p99_ms"]
    flagged = report.regressions[0]
    assert flagged.change_pct == pytest.approx(50.0)
    improved = {r.key: r for r in report.rows}
    assert improved["served torchserve c=1 p50_ms"].change_pct == pytest.approx(-50.0)
    assert improved["served torchserve c=16 throughput_rps"].change_pct == pytest.approx(100.0)


def test_change_within_tolerance_is_not_flagged(make_results):
    a = make_results()
    b = make_results(served=_scaled_served(a, "p99_ms", 1.05, 4))
    assert not diff_runs(a, b, 0.10).regressions
    assert diff_runs(a, b, 0.01).regressions


def test_rate_throughput_accuracy_and_status_regressions(make_results):
    a = make_results()
    b = make_results()
    b.served = copy.deepcopy(a.served)
    b.served[0].slo["max_rate_rps"] *= 0.5
    b.artifacts = copy.deepcopy(a.artifacts)
    b.artifacts["tflite_int8"]["parity"]["accuracy"] -= (ACCURACY_POINTS + 0.5) / 100
    b.artifacts["tflite_fp16"]["parity"]["accuracy"] -= (ACCURACY_POINTS / 2) / 100  # small: tolerated
    b.local = copy.deepcopy(a.local)
    onnx = next(r for r in b.local if r["artifact"] == "onnx" and r["profile"] == "server" and r["threads"] == 1)
    onnx["throughput_samples_per_s"]["8"] *= 0.5
    savedmodel = next(r for r in b.local if r["artifact"] == "savedmodel" and r["profile"] == "server")
    savedmodel.update(status="FAILED", reason="worker crashed")
    report = diff_runs(a, b, 0.10)
    flagged = {r.key for r in report.regressions}
    assert flagged == {
        "slo torchserve max_rate_rps",
        "artifact tflite_int8 accuracy_pct",
        "local onnx server t=1 bs8_samples_per_s",
        "local savedmodel server t=1 status",
    }
    # The FAILED row's figures are gone too: one regression (its status), the rest point to it.
    gone = {r.key: r for r in report.rows if r.key.startswith("local savedmodel server t=1 ")}
    assert gone["local savedmodel server t=1 p50_ms"].note == "missing (see its status)"


def test_sizes_are_shown_but_never_flagged(make_results):
    a = make_results()
    b = make_results(artifacts=copy.deepcopy(a.artifacts))
    b.artifacts["onnx"]["size_bytes"] *= 3
    report = diff_runs(a, b, 0.10)
    row = next(r for r in report.rows if r.key == "artifact onnx size_bytes")
    assert row.change_pct == pytest.approx(200.0) and not row.regression


def test_diff_command_exit_codes(make_run, make_results, capsys):
    a = make_results()
    run_a = make_run(a, name="a")
    same = make_run(make_results(), name="same")
    worse = make_run(make_results(served=_scaled_served(a, "p50_ms", 2.0, 16)), name="worse")
    assert main(["diff", str(run_a), str(same)]) == 0
    assert "no regression beyond the noise" in capsys.readouterr().out
    assert main(["diff", str(run_a), str(worse), "--tolerance", "0.10"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("served torchserve c=16 p50_ms"))
    assert "REGRESSION" in line and "+100.0%" in line
    assert main(["diff", str(run_a), str(worse), "--tolerance", "1.5"]) == 0


def test_diff_command_rejects_missing_and_invalid_runs(make_run, tmp_path, capsys):
    run_a = make_run()
    assert main(["diff", str(run_a), str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    assert main(["diff", str(broken), str(run_a)]) == 2
    err = capsys.readouterr().err
    assert "RUN_A" in err and "results.json" in err
