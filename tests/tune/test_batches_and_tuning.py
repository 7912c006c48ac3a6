"""REAL servers: a request of 8 samples comes back as 8 predictions equal to the reference on
every served stack measured here, the load client counts samples/s, and a tiny tune grid
records its best setting in a results document that passes the schema."""

from __future__ import annotations

import dataclasses

import httpx
import numpy as np
import pytest

from deploy_compare.clients import LoadConfig, payloads_from_export, run_closed_loop
from deploy_compare.clients.encodings import encoding_for
from deploy_compare.deploy.affinity import plan_cores
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult, validate
from deploy_compare.deploy.tune import tune_settings, tune_target
from deploy_compare.manifest import load_manifest
from deploy_compare.progress import ProgressLog
from deploy_compare.servers import make_launcher
from deploy_compare.servers.registry import get

pytestmark = pytest.mark.timeout(300)

STACKS = [
    pytest.param("torchserve", {"torch_threads": 1}, marks=pytest.mark.torchserve),
    pytest.param("triton", {"threads": 1}, marks=pytest.mark.triton),
    pytest.param("fastapi_onnx", {"threads": 1}, marks=pytest.mark.fastapi_service),
]


@pytest.mark.parametrize(("kind", "table"), STACKS)
def test_a_request_of_8_samples_returns_8_predictions_equal_to_the_reference(kind, table, artifacts, tmp_path):
    stack = get(kind)
    why = stack.native_reason()
    if why:
        pytest.skip(f"{kind} cannot run natively here: {why}")
    manifest = load_manifest(artifacts)
    with np.load(artifacts / "eval.npz") as data:
        reference = data["reference"]
    launcher = make_launcher(
        kind, "native", manifest_dir=artifacts, run_dir=tmp_path, config=stack.config_class(**table)
    )
    with launcher:
        endpoint = launcher.endpoint
        payloads = payloads_from_export(endpoint, artifacts, manifest, artifact=stack.artifact, batch_size=8)
        request = payloads.requests[1]  # samples 8..15
        response = httpx.request(request.method, request.url, headers=request.headers, content=request.body, timeout=30)
        got = encoding_for(endpoint).parse_response(response.status_code, response.content, batch_size=8)
        assert got.shape == (8, reference.shape[1])
        np.testing.assert_allclose(got, reference[8:16], atol=1e-4)
        # The load client: every response checked against the reference, samples/s = 8 x req/s.
        config = LoadConfig(duration_s=1.0, warmup_s=0.2, min_requests=10, concurrency=2)
        result = run_closed_loop(endpoint, payloads, config)
    assert result.batch_size == 8 and result.error_count == 0 and result.top1_agreement == 1.0
    assert result.throughput_samples_per_s == pytest.approx(8 * result.throughput_rps)


@pytest.mark.fastapi_service
def test_a_tiny_tune_grid_records_its_best_setting(artifacts, tmp_path):
    if get("fastapi_onnx").native_reason():
        pytest.skip(get("fastapi_onnx").native_reason())
    config = load_run_config(
        overrides={
            "run": {"targets": ["fastapi_onnx"], "runs_dir": str(tmp_path), "pin_cores": False},
            "fastapi_onnx": {"threads": 1},
            "load": {"warmup_s": 0.2, "duration_s": 1.0, "min_requests": 10, "batch_sizes": [1], "encodings": ["json"]},
            # a bound no loaded CI machine misses at 60 req/s: the test is about the mechanics
            "slo": {
                "confidence": 0.5,  # 138 requests decide a clean pass: a 3 s trial at 60 req/s can
                "duration_s": 3.0,
                "max_duration_s": 3.0,  # not stretched at low rates: short trials
                "max_trials": 2,
                "start_rate_rps": 60.0,
                "p99_bound_ms": 5000.0,
            },
            "tune": {"grids": {"fastapi_onnx": [{"workers": 2}]}, "batch_size": 8},
        }
    )
    config.validate()
    info = RunInfo(id="t", profile="full", started_utc="2026-01-01T00:00:00+00:00", command="test")
    document = RunResults(run=info, settings=config.raw)
    result = ServedResult(target="fastapi_onnx", status="OK", artifact="onnx")  # no SLO at batch 8 yet
    document.served.append(result)
    saves = []
    with ProgressLog(quiet=True) as progress:
        tune_target(
            "fastapi_onnx",
            config,
            tune_settings(config),
            artifacts,
            tmp_path,
            plan_cores(),
            result,
            lambda: saves.append(1),
            progress,
        )
    tuning = result.tuning
    assert tuning is not None and tuning["batch_size"] == 8
    assert tuning["default"]["source"] == "tune stage" and tuning["default"]["status"] == "OK"
    [trial] = tuning["trials"]
    assert trial["label"] == "workers=2" and trial["status"] == "OK", trial
    assert trial["server_config"]["workers"] == 2 and trial["log"]
    rates = [tuning["default"]["max_rate_rps"], trial["max_rate_rps"]]
    assert tuning["best"] is not None, rates
    assert tuning["best"]["max_rate_rps"] == max(r for r in rates if r is not None)
    assert tuning["best"]["max_rate_samples_per_s"] == 8 * tuning["best"]["max_rate_rps"]
    assert tuning["best"]["label"] in ("defaults", "workers=2")
    # each trial's searched load ran at 8 samples per request
    assert {t["result"]["batch_size"] for t in trial["slo"]["trials"]} == {8}
    assert saves
    validate(dataclasses.replace(document).to_dict())
