"""The FastAPI service serving another artifact than its own ([run] serve "fastapi_onnx:onnx_int8"):
the launcher passes the pair's artifact to the app, which opens its runtime; a real server."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from deploy_compare.evaldata import EvalData
from deploy_compare.servers import make_launcher
from deploy_compare.servers.fastapi_service.config import FastAPIServiceConfig

pytestmark = [pytest.mark.fastapi_service, pytest.mark.timeout(120)]


def test_the_service_serves_the_int8_onnx_file_it_was_given(artifacts, tmp_path):
    data = EvalData.load(artifacts)
    launcher = make_launcher(
        "fastapi_onnx",
        "native",
        manifest_dir=artifacts,
        run_dir=tmp_path,
        config=FastAPIServiceConfig(threads=1),
        artifact="onnx_int8",
    )
    with launcher:
        ep = launcher.endpoint
        x = data.x[:16].astype(np.float32)
        body = {
            "inputs": [{"name": ep.input_name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
        }
        reply = httpx.post(ep.predict_url, json=body, headers=ep.headers, timeout=30.0)
        assert reply.status_code == 200, reply.text
        out = reply.json()["outputs"][0]
        got = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
        effective = launcher.effective_settings()
    # int8: the same top-1 as the fp32 reference on these samples, not the same logits
    assert got.argmax(1).tolist() == data.reference[:16].argmax(1).tolist()
    assert not np.allclose(got, data.reference[:16], atol=1e-5)  # it is the quantized file answering
    spec = (launcher.work_dir / "service.json").read_text()
    assert '"artifact": "onnx_int8"' in spec
    assert effective == {"uvicorn_workers": 1, "runtime_intra_op_threads": "1", "artifact": "onnx_int8"}
