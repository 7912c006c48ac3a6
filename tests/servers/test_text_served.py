"""The text preset (two named int64 inputs) through REAL serving stacks: the FastAPI service
(ONNX Runtime) and native Triton (Python backend) over KServe v2, and the TorchServe handler
with TorchServe's own Context, each answering what PyTorch answers."""

from __future__ import annotations

import json
import shutil

import httpx
import numpy as np
import pytest

from deploy_compare.clients import LoadConfig, payloads_from_export, run_closed_loop
from deploy_compare.evaldata import EvalData
from deploy_compare.servers import make_launcher
from deploy_compare.servers.fastapi_service.config import FastAPIServiceConfig
from deploy_compare.servers.model_spec import served_model
from deploy_compare.servers.torchserve.archive import HANDLER_CONFIG_NAME, handler_config
from deploy_compare.servers.torchserve.config import TorchServeConfig
from deploy_compare.servers.torchserve.handler import DeployCompareHandler
from deploy_compare.servers.triton.config import TritonConfig
from deploy_compare.servers.triton.native import native_unavailable_reason

N = 16


def _v2_named_body(data: EvalData, n: int = N, order=("input_ids", "attention_mask")) -> dict:
    tensors = []
    for name in order:
        x = data.x[name][:n]
        tensors.append({"name": name, "shape": list(x.shape), "datatype": "INT64", "data": x.reshape(-1).tolist()})
    return {"inputs": tensors}


def _check_stack(launcher, text_exported) -> None:
    out, manifest = text_exported
    data = EvalData.load(out)
    ep = launcher.endpoint
    # the tensors by name, in either order, equal the PyTorch reference
    for order in (("input_ids", "attention_mask"), ("attention_mask", "input_ids")):
        r = httpx.post(ep.predict_url, json=_v2_named_body(data, order=order), headers=ep.request_headers(), timeout=30)
        assert r.status_code == 200, r.text
        got = np.asarray(r.json()["outputs"][0]["data"], np.float64).reshape(r.json()["outputs"][0]["shape"])
        np.testing.assert_allclose(got, data.reference[:N], atol=1e-4)
    # a request missing the mask is a 4xx that says what the model takes
    body = _v2_named_body(data)
    body["inputs"] = body["inputs"][:1]
    r = httpx.post(ep.predict_url, json=body, headers=ep.request_headers(), timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert "attention_mask" in r.text or "expected 2 inputs" in r.text, r.text
    # the load client's payloads carry both named tensors; every response is checked on top-1
    payloads = payloads_from_export(ep, out, manifest, artifact="onnx", batch_size=4, max_payloads=16)
    assert [t["name"] for t in json.loads(payloads.requests[0].body)["inputs"]] == ["input_ids", "attention_mask"]
    result = run_closed_loop(ep, payloads, LoadConfig(duration_s=1.0, warmup_s=0.2, min_requests=20, concurrency=2))
    assert result.error_count == 0 and result.completed >= 20, result.errors
    assert result.correctness_checked == result.completed and result.top1_agreement == 1.0
    # every encoding the stack speaks (v2 JSON, the binary tensor extension, gRPC) carries both named tensors
    import encoding_checks

    sizes = encoding_checks.predictions_equal_the_reference(ep, launcher.kind, out, manifest, 1e-4, batch_size=4)
    assert {"json", "binary", "grpc"} <= set(sizes), sizes


@pytest.mark.fastapi_service
@pytest.mark.timeout(300)
def test_fastapi_service_serves_named_int64_inputs(text_exported, tmp_path):
    launcher = make_launcher(
        "fastapi_onnx",
        "native",
        manifest_dir=text_exported[0],
        run_dir=tmp_path,
        config=FastAPIServiceConfig(workers=1, threads=1),
    )
    with launcher:
        _check_stack(launcher, text_exported)
        meta = httpx.get(
            f"{launcher.endpoint.url}/v2/models/{launcher.endpoint.model}",
            headers=launcher.endpoint.request_headers(),
            timeout=10,
        ).json()
        assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
            ("input_ids", "INT64", [-1, 32]),
            ("attention_mask", "INT64", [-1, 32]),
        ]


@pytest.mark.triton
@pytest.mark.timeout(300)
@pytest.mark.skipif(native_unavailable_reason() is not None, reason=f"native Triton: {native_unavailable_reason()}")
def test_native_triton_serves_named_int64_inputs(text_exported, tmp_path):
    config = TritonConfig(instances=1, threads=1, max_queue_delay_us=1000, preferred_batch_sizes=[4])
    launcher = make_launcher("triton", "native", manifest_dir=text_exported[0], run_dir=tmp_path, config=config)
    with launcher:
        text = next((tmp_path).rglob("config.pbtxt")).read_text()
        assert (
            'name: "input_ids" data_type: TYPE_INT64' in text and 'name: "attention_mask" data_type: TYPE_INT64' in text
        )
        _check_stack(launcher, text_exported)


@pytest.mark.torchserve
def test_torchserve_handler_stacks_named_instances(text_exported, tmp_path):
    from ts.context import Context, RequestProcessor

    out, _ = text_exported
    data = EvalData.load(out)
    model = served_model("torchserve", out)
    shutil.copyfile(model.artifact_path, tmp_path / "model.pt")
    (tmp_path / HANDLER_CONFIG_NAME).write_text(json.dumps(handler_config(model, TorchServeConfig(torch_threads=1))))
    manifest = {"model": {"modelName": model.model_name, "serializedFile": "model.pt"}}
    context = Context(model.model_name, str(tmp_path), manifest, batch_size=4, gpu=None, mms_version="0.12.0")
    handler = DeployCompareHandler()
    handler.initialize(context)

    def rows(lo: int, hi: int) -> list[dict]:
        return [{k: data.x[k][i].tolist() for k in ("input_ids", "attention_mask")} for i in range(lo, hi)]

    bad = [{"input_ids": data.x["input_ids"][0].tolist()}]  # the mask is missing
    requests = [{"body": {"instances": rows(0, 2)}}, {"body": {"instances": bad}}, {"body": {"instances": rows(2, 5)}}]
    context.request_processor = [RequestProcessor({}) for _ in requests]
    answers = handler.handle(requests, context)
    np.testing.assert_allclose(np.asarray(answers[0]["predictions"]), data.reference[0:2], atol=1e-4)
    np.testing.assert_allclose(np.asarray(answers[2]["predictions"]), data.reference[2:5], atol=1e-4)
    assert "'attention_mask' is missing" in answers[1]["error"] and context.get_response_status(1)[0] == 400
