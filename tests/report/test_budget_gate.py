"""`deploy-compare check RUN --budget FILE`: budgets as a CI gate, over the reference run of conftest.py.

Limits are derived from the reference run's own figures (a bit above to pass, a bit below
to fail), never repeated here, so a change of the fixture keeps these tests meaningful.
"""

from __future__ import annotations

import json

import pytest

from deploy_compare.cli import main
from deploy_compare.report.inputs import load_inputs
from deploy_compare.report.names import local_rows

pytestmark = pytest.mark.unit


def _row(run, artifact, device="local", profile="edge", threads=1):
    if device == "local":
        rows = local_rows(load_inputs(run).results)
    else:
        rows = load_inputs(run).edge[device]
    return next(r for r in rows if r["artifact"] == artifact and r["profile"] == profile and r["threads"] == threads)


def _write(tmp_path, text, name="budget.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _check(capsys, run, budget, *extra):
    code = main(["check", str(run), "--budget", str(budget), "--no-report", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_budgets_that_hold_exit_0(make_run, tmp_path, capsys):
    run = make_run()
    local = _row(run, "tflite_int8")
    pi = _row(run, "tflite_int8", device="rpi4")
    budget = _write(
        tmp_path,
        f"""
[[budget.artifact]]
artifact = "tflite_int8"
profile = "edge"
max_p50_ms = {local["p50_ms"] * 1.05}
max_p99_ms = {local["p99_ms"] * 1.05}
max_file_size_kib = {local["file_size_bytes"] / 1024 + 1}
max_accuracy_drop_points = 2.0

[[budget.artifact]]
device = "rpi4"
artifact = "tflite_int8"
max_p50_ms = {pi["p50_ms"] * 1.05}

[[budget.served]]
target = "torchserve"
min_slo_rate_rps = 400
at_rate_rps = 150
max_p99_ms = 1000
""",
    )
    code, out, _ = _check(capsys, run, budget)
    assert code == 0, out
    assert out.splitlines() == ["7 budget(s): 7 pass, 0 fail, 0 missing"]


def test_each_violated_budget_is_one_line_exit_1(make_run, tmp_path, capsys):
    run = make_run()
    local = _row(run, "tflite_int8")
    budget = _write(
        tmp_path,
        f"""
[[budget.artifact]]
artifact = "tflite_int8"
profile = "edge"
max_p50_ms = {local["p50_ms"] * 0.9}
max_p99_ms = {local["p99_ms"] * 1.1}
max_accuracy_drop_points = 0.5   # the reference run's int8 loses about 0.8 points

[[budget.served]]
target = "torchserve"
min_slo_rate_rps = 500           # its SLO search found 400/s
""",
    )
    code, out, _ = _check(capsys, run, budget)
    assert code == 1
    lines = out.splitlines()
    fails = [line for line in lines if line.startswith("FAIL: ")]
    assert len(fails) == 3 and lines[-1] == "4 budget(s): 1 pass, 3 fail, 0 missing"
    assert any("local tflite_int8, edge, 1 thread(s): p50 ms <= " in line for line in fails)
    assert any(
        "accuracy drop points <= 0.5" in line and "accuracy of the export's parity check" in line for line in fails
    )
    assert any("SLO rate req/s >= 500" in line and "measured 400" in line for line in fails)


def test_a_budgeted_figure_that_is_missing_exits_3(make_run, tmp_path, capsys):
    run = make_run()
    budget = _write(
        tmp_path,
        """
[[budget.artifact]]
artifact = "onnx"
profile = "edge"
max_invoke_p50_ms = 5            # invoke-only latency is a TFLite row's figure: ONNX rows have none

[[budget.artifact]]
device = "pixel7"                # never ingested into this run
artifact = "tflite_int8"
max_p99_ms = 10

[[budget.served]]
target = "tfserving"             # SKIPPED in this run
min_slo_rate_rps = 1
""",
    )
    code, out, _ = _check(capsys, run, budget)
    assert code == 3
    missing = [line for line in out.splitlines() if line.startswith("MISSING: ")]
    assert len(missing) == 3
    assert "onnx" in missing[0] and "invoke" in missing[0]
    assert "device not ingested" in missing[1]
    assert "target SKIPPED" in missing[2]


def test_emulated_device_has_no_latency_to_budget(make_run, make_results, tmp_path, capsys):
    run = make_run()
    doc = json.loads((run / "edge" / "rpi4.json").read_text())
    for row in doc["results"]:
        row["machine"]["emulated"] = "emulator: qemu-aarch64-static"
    (run / "edge" / "rpi4.json").write_text(json.dumps(doc))
    budget = _write(tmp_path, '[[budget.artifact]]\ndevice = "rpi4"\nartifact = "tflite_int8"\nmax_p50_ms = 1000\n')
    code, out, _ = _check(capsys, run, budget)
    assert code == 3 and "emulated (emulator: qemu-aarch64-static): no device timings" in out


def test_a_violation_outranks_a_missing_figure(make_run, tmp_path, capsys):
    run = make_run()
    budget = _write(
        tmp_path,
        '[[budget.artifact]]\nartifact = "tflite_int8"\nmax_p50_ms = 0.000001\n'
        '[[budget.artifact]]\nartifact = "onnx"\nprofile = "edge"\nmax_invoke_p50_ms = 5\n',
    )
    code, out, _ = _check(capsys, run, budget)
    assert code == 1 and "FAIL: " in out and "MISSING: " in out


@pytest.mark.parametrize(
    "text,named",
    [
        ('[[budget.artifact]]\nartifact = "tflite_int8"\nmax_p50 = 1\n', "unknown key(s) max_p50"),
        ('[[budget.artifact]]\nartifact = "tflite_int8"\nmax_p50_ms = "fast"\n', "max_p50_ms: a number >= 0"),
        ('[[budget.artifact]]\nartifact = "tflite_int9"\nmax_p50_ms = 1\n', "artifact: unknown 'tflite_int9'"),
        ('[[budget.artifact]]\nartifact = "onnx"\n', "no limit set"),
        ('[[budget.served]]\ntarget = "torchserve"\nmax_p99_ms = 5\n', "max_p99_ms and at_rate_rps go together"),
        ('[[budget.served]]\ntarget = "nginx"\nmin_slo_rate_rps = 5\n', "target: unknown 'nginx'"),
        ("[limits]\nx = 1\n", "a budget file holds one [budget] table"),
    ],
)
def test_the_budget_file_is_validated_before_the_run_is_read(tmp_path, capsys, text, named):
    budget = _write(tmp_path, text)
    code, _, err = _check(capsys, tmp_path / "no-such-run", budget)
    assert code == 2
    assert err.count("\n") == 1 and named in err, err


def test_the_config_budget_table_is_validated_with_the_settings(tmp_path):
    from deploy_compare.deploy.config import load_run_config
    from deploy_compare.errors import ConfigError

    config = _write(tmp_path, '[[budget.artifact]]\nartifact = "onnx"\nmax_p50_ms = -1\n', "deploy.toml")
    with pytest.raises(ConfigError, match="max_p50_ms: a number >= 0"):
        load_run_config(config)


def test_report_shows_each_budget_only_when_one_was_given(reference_run, make_run, tmp_path, capsys):
    assert "## Budgets" not in (reference_run / "report.md").read_text()  # rendered without a budget
    run = make_run()
    budget = _write(
        tmp_path,
        '[[budget.artifact]]\nartifact = "tflite_int8"\nprofile = "edge"\nmax_p50_ms = 1000\n'
        '[[budget.artifact]]\nartifact = "onnx"\nprofile = "edge"\nmax_invoke_p50_ms = 5\n'
        '[[budget.served]]\ntarget = "torchserve"\nmin_slo_rate_rps = 500\n',
    )
    assert main(["check", str(run), "--budget", str(budget)]) == 1
    report = (run / "report.md").read_text()
    section = report.split("## Budgets", 1)[1].split("\n## ", 1)[0]
    assert "1 pass, 1 fail, 1 missing" in section
    for status in ("PASS", "FAIL", "MISSING"):
        assert status in section
    assert "served TorchServe" in section and "SLO rate req/s >= 500" in section


def test_without_budget_flag_the_runs_own_budget_table_is_judged(make_run, make_results, capsys):
    results = make_results()
    results.settings = {**results.settings, "budget": {"served": [{"target": "torchserve", "min_slo_rate_rps": 500}]}}
    run = make_run(results)
    assert main(["check", str(run), "--no-report"]) == 1
    assert "FAIL: served TorchServe" in capsys.readouterr().out
    bare = make_run(name="bare")
    assert main(["check", str(bare), "--no-report"]) == 2
    assert "the run's settings have no [budget]; pass --budget FILE" in capsys.readouterr().err
