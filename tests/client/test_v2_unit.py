"""The KServe v2 REST JSON adapter: what goes on the wire and how answers are read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploy_compare.clients import Endpoint, encoding_for
from deploy_compare.errors import ProtocolError
from deploy_compare.wire.v2_json import decode_infer_response, encode_infer_request, tensor_from_json

pytestmark = pytest.mark.unit

EP = Endpoint(url="http://127.0.0.1:8000", encoding="kserve_v2", model="digits", token="k", input_name="input")


def test_request_is_one_named_flat_row_major_tensor():
    x = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    spec = encoding_for(EP).build_request(x)
    assert spec.method == "POST" and spec.url == "http://127.0.0.1:8000/v2/models/digits/infer"
    assert spec.headers["Authorization"] == "Bearer k" and spec.headers["Content-Type"] == "application/json"
    doc = json.loads(spec.body)
    assert doc == {
        "inputs": [{"name": "input", "shape": [2, 1, 2, 3], "datatype": "FP32", "data": x.reshape(-1).tolist()}]
    }
    assert np.array_equal(tensor_from_json(doc["inputs"][0]), x)


def test_int8_and_uint8_batches_keep_their_datatype():
    assert json.loads(encode_infer_request(np.zeros((1, 2), np.int8), "i"))["inputs"][0]["datatype"] == "INT8"
    assert json.loads(encode_infer_request(np.zeros((1, 2), np.uint8), "i"))["inputs"][0]["datatype"] == "UINT8"


def test_response_outputs_are_read_in_their_shape():
    body = json.dumps(
        {
            "model_name": "digits",
            "outputs": [{"name": "logits", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}],
        }
    ).encode()
    got = encoding_for(EP).parse_response(200, body, batch_size=2)
    assert got.shape == (2, 3) and got[1, 2] == 6.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nope", "not JSON"),
        (b'{"error": "input shape mismatch"}', "input shape mismatch"),
        (b'{"outputs": []}', "no 'outputs'"),
        (b'{"outputs": [{"name": "y", "shape": [2, 3], "datatype": "FP32", "data": [1, 2]}]}', "has 2 elements"),
        (
            b'{"outputs": [{"name": "y", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}',
            "1 rows for a batch of 2",
        ),
        (b'{"outputs": [{"name": "y", "shape": [2], "datatype": "STRING", "data": ["a", "b"]}]}', "datatype"),
    ],
)
def test_bad_responses_are_protocol_errors_that_say_why(body, message):
    with pytest.raises(ProtocolError, match=message):
        decode_infer_response(body, batch_size=2)


def test_an_error_status_carries_the_servers_message():
    with pytest.raises(ProtocolError, match=r"HTTP 400: unknown input 'x'"):
        encoding_for(EP).parse_response(400, b'{"error": "unknown input \'x\'"}')


def test_an_endpoint_without_the_input_name_cannot_build_v2_requests():
    ep = Endpoint(url="http://127.0.0.1:8000", encoding="kserve_v2", model="digits")
    with pytest.raises(ProtocolError, match="input tensor's name"):
        encoding_for(ep).build_request(np.zeros((1, 2), np.float32))


def test_the_wire_package_imports_neither_the_client_nor_the_servers():
    """The KServe v2 formats are shared by the load client and the FastAPI server: importing
    them (and the FastAPI server's modules that use them) pulls in no client code."""
    import subprocess
    import sys

    code = (
        "import sys, deploy_compare.wire.v2_json, deploy_compare.wire.v2_binary, deploy_compare.wire.v2_grpc; "
        "print(sorted(m for m in sys.modules if m.startswith(('deploy_compare.clients', 'deploy_compare.servers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = (
        "import sys, deploy_compare.servers.fastapi_service.app, deploy_compare.servers.fastapi_service.grpc_server; "
        "print(sorted(m for m in sys.modules if m.startswith('deploy_compare.clients')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
