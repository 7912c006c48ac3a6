"""`deploy-compare run` end to end: real exports, runtimes, native TorchServe; TF Serving SKIPPED."""

from __future__ import annotations

import json

import pytest

from deploy_compare.deploy.results import load_results, validate

pytestmark = pytest.mark.e2e


def test_run_succeeds_and_writes_every_file(quick_run):
    proc, run_dir = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("results.json", "environment.json", "results.csv", "report.md", "report.html"):
        assert (run_dir / name).is_file(), name
    # progress: every stage and every load level was announced
    for fragment in (
        "stage 1/4: export",
        "stage 2/4: local",
        "stage 3/4: torchserve",
        "stage 4/4: tfserving",
        "torchserve: concurrency 1:",
        "torchserve: concurrency 4:",
    ):
        assert fragment in proc.stdout, fragment


def test_results_json_is_valid_and_complete(quick_run):
    _, run_dir = quick_run
    document = json.loads((run_dir / "results.json").read_text())
    validate(document)
    results = load_results(run_dir)
    assert results.run.complete and not results.run.interrupted
    assert {s.name: s.status for s in results.run.stages} == {
        "export": "OK",
        "local": "OK",
        "torchserve": "OK",
        "tfserving": "SKIPPED",
    }
    assert len(results.artifacts) == 9 and all(a["parity"]["passed"] for a in results.artifacts.values())
    # every artifact measured in both profiles, and correct
    rows = {(r["artifact"], r["profile"]) for r in results.local if r["status"] == "OK"}
    assert rows == {(a, p) for a in results.artifacts for p in ("server", "edge")}
    assert all(r["top1_agreement"] >= 0.97 for r in results.local)


def test_torchserve_measured_for_real_and_tfserving_skipped(quick_run):
    _, run_dir = quick_run
    served = {s.target: s for s in load_results(run_dir).served}
    ts = served["torchserve"]
    assert ts.status == "OK" and ts.startup_s > 0
    assert [level["concurrency"] for level in ts.sweep] == [1, 4]
    for level in ts.sweep:
        assert level["completed"] >= 30 and level["throughput_rps"] > 0
        assert level["errors"] == {} or sum(level["errors"].values()) == 0
        assert level["top1_agreement"] >= 0.97
    assert ts.slo is not None and ts.slo["trials"]
    assert (run_dir / ts.log).is_file()
    tf = served["tfserving"]
    assert tf.status == "SKIPPED" and "no Docker engine" in tf.reason


def test_cores_recorded(quick_run):
    _, run_dir = quick_run
    results = load_results(run_dir)
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["cpu_model"] and env["packages"]["torch"].startswith("2.13.0")
    assert "deploy-compare run --quick" in results.run.command
    cores = results.run.cores
    if len(env["usable_cores"]) >= 2:
        assert not cores["shared"] and set(cores["server_cores"]).isdisjoint(cores["client_cores"])
        ts = next(s for s in results.served if s.target == "torchserve")
        assert ts.server_cores == cores["server_cores"] and ts.client_cores == cores["client_cores"]


def test_reports_name_every_target(quick_run):
    _, run_dir = quick_run
    for name in ("report.md", "report.html"):
        text = (run_dir / name).read_text()
        for target in ("torchserve", "tfserving", "tflite_int8", "onnx", "savedmodel", "torchscript"):
            assert target.lower() in text.lower(), (name, target)
        assert "SKIPPED" in text and "no Docker engine" in text


def test_report_rerenders_identically(quick_run, cli_runner):
    _, run_dir = quick_run
    before = (run_dir / "report.md").read_text()
    result = cli_runner("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert (run_dir / "report.md").read_text() == before
