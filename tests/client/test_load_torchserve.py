"""The load client against a REAL native TorchServe serving the exported TorchScript model.

Uses the lead's session fixture `exported` (tests/conftest.py) and the servers/ launcher.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deploy_compare.clients import (
    Endpoint,
    LoadConfig,
    payloads_from_export,
    run_closed_loop,
    run_open_loop,
)
from deploy_compare.errors import LoadError
from deploy_compare.evaldata import EvalData
from deploy_compare.servers.torchserve.native import native_unavailable_reason

pytestmark = [
    pytest.mark.torchserve,
    pytest.mark.skipif(
        native_unavailable_reason() is not None, reason=f"native TorchServe: {native_unavailable_reason()}"
    ),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def torchserve(exported, tmp_path_factory):
    from deploy_compare.servers import make_launcher
    from deploy_compare.servers.torchserve.config import TorchServeConfig

    out_dir, _ = exported
    config = TorchServeConfig(workers=1, batch_size=1, torch_threads=1)
    launcher = make_launcher(
        "torchserve", "native", manifest_dir=out_dir, run_dir=tmp_path_factory.mktemp("ts-load"), config=config
    )
    with launcher:
        yield launcher


@pytest.fixture(scope="module")
def endpoint(torchserve) -> Endpoint:
    ep = torchserve.endpoint
    auth = ep.headers["Authorization"]
    assert auth.startswith("Bearer ")
    return Endpoint(url=ep.base_url, encoding="torchserve", model=ep.model_name, token=auth[len("Bearer ") :])


def test_closed_loop_on_torchserve_answers_like_the_reference(endpoint, exported):
    out_dir, manifest = exported
    payloads = payloads_from_export(endpoint, out_dir, manifest, artifact="torchscript", max_payloads=64)
    # The TorchScript artifact is NCHW float32: the bodies must be exactly eval.npz's samples.
    x = EvalData.load(out_dir).x
    spec = manifest.artifact("torchscript").inputs[0]
    assert spec.layout == "NCHW"
    import json

    sent = np.asarray(json.loads(payloads.requests[3].body)["instances"], dtype=np.float32)
    assert np.array_equal(sent, x[3:4])
    cfg = LoadConfig(duration_s=2.0, warmup_s=0.5, min_requests=50, concurrency=2, timeout_s=10.0)
    r = run_closed_loop(endpoint, payloads, cfg)
    assert r.error_count == 0 and r.completed >= 50 and r.min_requests_met
    assert r.correctness_checked == r.completed
    # Top-1 of the served model vs PyTorch's reference logits, as the export's parity saw it.
    parity = manifest.artifact("torchscript").parity
    floor = parity.top1_agreement - 0.02 if parity is not None else 0.98
    assert r.top1_agreement >= floor
    assert 0 < r.p50_ms <= r.p99_ms <= r.max_ms and r.throughput_rps > 0


def test_open_loop_on_torchserve_keeps_the_schedule(endpoint, exported):
    out_dir, manifest = exported
    payloads = payloads_from_export(endpoint, out_dir, manifest, artifact="torchscript", max_payloads=64)
    cfg = LoadConfig(
        duration_s=2.0,
        warmup_s=0.5,
        min_requests=60,
        rate_rps=40.0,
        arrival="poisson",
        seed=3,
        max_in_flight=16,
        timeout_s=10.0,
        late_threshold_ms=20.0,
    )
    r = run_open_loop(endpoint, payloads, cfg)
    assert r.error_count == 0 and r.dropped == 0
    assert r.requests >= 60 and r.top1_agreement is not None and r.top1_agreement >= 0.98
    assert r.p99_incl_failures_ms == pytest.approx(r.p99_ms)
    assert r.late_share is not None and r.max_send_lag_ms is not None
    assert 0 <= r.send_lag_p50_ms <= r.send_lag_p99_ms <= r.max_send_lag_ms


def test_wrong_inference_key_fails_fast_with_the_status(endpoint, exported):
    out_dir, manifest = exported
    bad = dataclasses.replace(endpoint, token="not-the-key")
    payloads = payloads_from_export(bad, out_dir, manifest, artifact="torchscript", max_payloads=4)
    with pytest.raises(LoadError, match=r"HTTP 4\d\d on the first request"):
        run_closed_loop(bad, payloads, LoadConfig(duration_s=0.5, warmup_s=0, min_requests=5))
