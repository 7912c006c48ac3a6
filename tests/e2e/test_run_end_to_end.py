"""`deploy-compare run` end to end: real exports, runtimes, native TorchServe, Triton, the
FastAPI baseline and the edge-service path measured side by side; TF Serving SKIPPED."""

from __future__ import annotations

import csv
import json

import pytest

import ci_policy
from deploy_compare.deploy.results import load_results, validate
from deploy_compare.servers.triton.native import native_unavailable_reason as triton_reason

V2_STACKS = ("triton", "fastapi_onnx", "fastapi_litert")

pytestmark = pytest.mark.e2e


def _why_tfserving_did_not_run(text: str) -> bool:
    """Without an engine: no Docker engine; with one (no registry, no TF Serving binary here):
    its image cannot be built and there is no native server."""
    return "no Docker engine" in text or ("base image tensorflow/serving" in text and "native:" in text)


def test_run_succeeds_and_writes_every_file(quick_run):
    proc, run_dir = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("results.json", "environment.json", "results.csv", "report.md", "report.html"):
        assert (run_dir / name).is_file(), name
    # progress: every stage and every load level was announced
    for fragment in (
        "stage 1/8: export",
        "stage 2/8: local",
        "stage 3/8: torchserve",
        "stage 4/8: tfserving",
        "stage 5/8: triton",
        "stage 6/8: fastapi_onnx",
        "stage 7/8: fastapi_litert",
        "stage 8/8: torchserve:onnx",  # [run] serve's default: the stacks that can, on ONNX Runtime too
    ):
        assert fragment in proc.stdout, fragment
    # each encoding's sweep, then the SLO search on the stack's best one ([load] slo_encoding)
    lines = proc.stdout.splitlines()
    for stack in ("torchserve", "fastapi_onnx"):
        for level in (1, 4):
            assert any(line.count(f"{stack} [") and f"concurrency {level}:" in line for line in lines), (stack, level)
        assert any(f"{stack}: SLO search on " in line and "its best encoding" in line for line in lines), stack


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
        "triton": "OK" if triton_reason() is None or ci_policy.strict() else "SKIPPED",  # CI provides it
        "fastapi_onnx": "OK",
        "fastapi_litert": "OK",
        "torchserve:onnx": "OK",
    }
    assert len(results.artifacts) == 12 and all(a["parity"]["passed"] for a in results.artifacts.values())
    # every artifact measured in both profiles, and correct
    rows = {(r["artifact"], r["profile"]) for r in results.local if r["status"] == "OK"}
    assert rows == {(a, p) for a in results.artifacts for p in ("server", "edge")}
    assert all(r["top1_agreement"] >= 0.97 for r in results.local)


def test_torchserve_measured_for_real_and_tfserving_skipped(quick_run):
    _, run_dir = quick_run
    served = {s.target: s for s in load_results(run_dir).served}
    ts = served["torchserve"]
    assert ts.status == "OK" and ts.startup_s > 0
    # auto mode: native without an engine; with one, the official base cannot be pulled here,
    # so the row says why it ran natively
    assert ts.mode == "native" and (ts.reason is None or ts.reason.endswith("; ran natively")), ts.reason
    assert [level["concurrency"] for level in ts.sweep] == [1, 4]
    for level in ts.sweep:
        assert level["completed"] >= 30 and level["throughput_rps"] > 0
        assert level["errors"] == {} or sum(level["errors"].values()) == 0
        assert level["top1_agreement"] >= 0.97
    assert ts.slo is not None and ts.slo["trials"]
    assert (run_dir / ts.log).is_file()
    tf = served["tfserving"]
    assert tf.status == "SKIPPED" and _why_tfserving_did_not_run(tf.reason)


@pytest.mark.parametrize("target", V2_STACKS)
def test_every_v2_stack_measured_for_real(quick_run, target):
    _, run_dir = quick_run
    results = load_results(run_dir)
    s = next(s for s in results.served if s.target == target)
    if target == "triton" and triton_reason() is not None and not ci_policy.strict():  # CI provides it
        assert s.status == "SKIPPED" and s.reason
        return
    assert s.status == "OK" and s.mode == "native" and s.startup_s > 0
    assert s.artifact == {"triton": "onnx", "fastapi_onnx": "onnx", "fastapi_litert": "tflite_dynamic_int8"}[target]
    assert [level["concurrency"] for level in s.sweep] == [1, 4]
    for level in s.sweep:
        assert level["completed"] >= 30 and sum(level["errors"].values()) == 0
        assert level["top1_agreement"] >= 0.95
    assert s.slo is not None and s.slo["trials"] and (run_dir / s.log).is_file()
    if target == "fastapi_litert" and s.server_cores is not None:
        assert len(s.server_cores) == 1


def test_figures_carry_intervals_and_trials_their_sequential_verdict(quick_run):
    """Issue 23: every percentile with its 95% interval and why its run stopped; every SLO
    trial decided by the sequential rule at the configured confidence."""
    _, run_dir = quick_run
    results = load_results(run_dir)
    measured = [s for s in results.served if s.status == "OK"]
    assert measured
    for s in measured:
        for p in s.sweep:
            low, high = p["p99_ci_ms"]
            assert low is None or low <= p["p99_ms"], p
            assert p["p50_ci_ms"][0] <= p["p50_ms"] <= p["p50_ci_ms"][1]
            assert p["stop_reason"] in ("precise", "duration", "max duration", "max requests")
            assert p["goodput_rps"] is not None and p["goodput_rps"] <= p["throughput_rps"] + 1e-9
        assert s.slo["confidence"] == 0.9  # the settings' ([slo] confidence), not the default
        for t in s.slo["trials"]:
            r = t["result"]
            assert r["slo_confidence"] == 0.9 and r["stop_reason"] in ("decided", "schedule", "max duration")
            if t["passed"]:  # a pass is the rule's, never a timer's
                assert r["slo_verdict"] is True and r["stop_reason"] == "decided"
    local = [r for r in results.local if r.get("status") == "OK"]
    assert local and all(r["p50_ci_ms"] is not None and r["stop_reason"] for r in local)
    assert "at 90% confidence" in (run_dir / "report.md").read_text()


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
        for label in ("FastAPI + ONNX Runtime, baseline", "edge-service path"):
            assert label in text, (name, label)
        assert "SKIPPED" in text and _why_tfserving_did_not_run(text)


def test_report_rerenders_identically(quick_run, cli_runner):
    _, run_dir = quick_run
    before = (run_dir / "report.md").read_text()
    result = cli_runner("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert (run_dir / "report.md").read_text() == before


def test_the_servers_view_is_recorded_and_reported(quick_run):
    """Every measured stack: CPU and memory per level, cold start, a per-second series; the
    report's server's view section shows them."""
    _, run_dir = quick_run
    results = load_results(run_dir)
    measured = [s for s in results.served if s.status == "OK"]
    assert measured
    for s in measured:
        assert s.cold_start["launch_to_first_inference_s"] >= s.cold_start["launch_to_healthy_s"] > 0
        assert s.peak_rss_mib > 20
        for level in s.sweep:
            server = level["server"]
            assert server["cpu_ms_per_request"] > 0 and server["peak_rss_mib"] > 20, (s.target, server)
            assert level["timeseries"]["t_s"], s.target
            if s.target in ("torchserve", "triton", "fastapi_onnx", "fastapi_litert"):
                split = server["split"]
                assert split and split["queue_ms"] + split["compute_ms"] <= level["mean_ms"], (s.target, split)
    report = (run_dir / "report.md").read_text()
    assert "The server's view" in report and "server CPU ms/req" in report


def test_batch_sizes_and_the_tune_stage_are_recorded_and_reported(quick_run):
    _, run_dir = quick_run
    results = load_results(run_dir)
    measured = [s for s in results.served if s.status == "OK"]
    assert measured
    for s in measured:
        [b8] = s.batches
        assert b8["batch_size"] == 8 and b8["slo"] is not None
        assert all(t["result"]["batch_size"] == 8 for t in b8["slo"]["trials"])
        assert all(p["batch_size"] == 1 and p["throughput_samples_per_s"] == p["throughput_rps"] for p in s.sweep)
        # where batch 8's search started, and from what
        if b8["slo"]["trials"]:
            assert b8["slo"]["trials"][0]["rate_rps"] == b8["slo_start_rate_rps"], b8["slo_start_from"]
            # seeded by concurrency 1 at batch 8, or raised to the lowest rate a sequential trial
            # can decide within its cap (a short e2e trial's floor is high): either way, said
            origin = b8["slo_start_from"]
            assert "concurrency-1" in origin or "raised to" in origin, origin
        if s.key != s.target:  # a stack on another artifact than its own ([run] serve) is not tuned
            assert s.tuning is None
            continue
        assert s.tuning is not None and s.tuning["default"]["source"] == "served stage"
        if s.target == "fastapi_litert":
            assert s.tuning["trials"] == [] and "fixed" in s.tuning["note"]
        else:
            [trial] = s.tuning["trials"]  # --quick: the first setting of the stack's grid
            assert trial["status"] == "OK", trial
    report = (run_dir / "report.md").read_text()
    assert "Request batch size" in report and "Tuned vs defaults" in report
    assert "Headline: tuned vs defaults" in report
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    for s in (
        s for s in measured if s.key == s.target
    ):  # results.csv: the batch-8 search, each tuned setting, each cold start
        mine = [r for r in rows if r["target"] == s.target and r["artifact"] == s.artifact]
        assert {r["batch_size"] for r in mine if r["kind"] == "slo"} == {"1", "8"}
        assert [r["setting"] for r in mine if r["kind"] == "tune"][0] == "defaults"
        assert [r["kind"] for r in mine].count("cold_start") == 1
