"""Encodings without a server: the byte formats, the registry's encodings, the settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploy_compare.clients.analyze import status_label
from deploy_compare.clients.encodings import ENCODINGS, encoding_class, registered_encodings
from deploy_compare.clients.endpoint import Endpoint
from deploy_compare.clients.payload import build_payloads
from deploy_compare.clients.records import GRPC_STATUS, HTTP_STATUS
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.served import encoding_plans
from deploy_compare.errors import ConfigError, ProtocolError
from deploy_compare.servers.registry import get, stacks
from deploy_compare.servers.torchserve.encodings import PredictionsRequest
from deploy_compare.wire.v2_binary import HEADER_LENGTH, decode_binary_response, split_binary_body
from deploy_compare.wire.v2_grpc import ModelInferRequest

pytestmark = pytest.mark.unit

X = np.arange(2 * 1 * 8 * 8, dtype=np.float32).reshape(2, 1, 8, 8) / 7


def _ep(protocol: str, **kw) -> Endpoint:
    return Endpoint(url="http://127.0.0.1:1", encoding=protocol, model="m", input_name="input", **kw)


def test_every_adapter_imports_and_names_its_encoding():
    for name in registered_encodings():
        cls = encoding_class(name)
        assert cls.name == name and cls.encoding in ENCODINGS
    for stack in stacks().values():
        for encoding, protocol in stack.spoken_encodings().items():
            assert encoding_class(protocol).encoding == encoding, (stack.name, encoding)


def test_v2_binary_request_is_a_json_header_then_raw_little_endian_bytes():
    payloads = build_payloads(_ep("kserve_v2_binary"), X, batch_size=2)
    spec = payloads.requests[0]
    n = int(spec.headers[HEADER_LENGTH])
    header = json.loads(spec.body[:n])
    assert header["inputs"][0] == {
        "name": "input",
        "shape": [2, 1, 8, 8],
        "datatype": "FP32",
        "parameters": {"binary_data_size": X.nbytes},
    }
    assert spec.body[n:] == X.astype("<f4").tobytes() and payloads.encoding == "binary"
    doc, rest = split_binary_body(spec.body)  # found without the header length, too
    assert doc == header and rest == X.astype("<f4").tobytes()


def test_v2_binary_response_parses_binary_and_plain_json_outputs():
    y = np.array([[1.0, -2.5, 3.0]], dtype="<f4")
    head = json.dumps(
        {"outputs": [{"name": "o", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]}
    )
    np.testing.assert_array_equal(decode_binary_response(head.encode() + y.tobytes(), 1), y)
    plain = json.dumps({"outputs": [{"name": "o", "shape": [1, 3], "datatype": "FP32", "data": [1, -2.5, 3]}]})
    np.testing.assert_array_equal(decode_binary_response(plain.encode(), 1), y)
    with pytest.raises(ProtocolError, match="binary_data_size"):
        decode_binary_response(head.encode() + y.tobytes()[:8], 1)
    with pytest.raises(ProtocolError, match="error"):
        decode_binary_response(b'{"error": "boom"}', 1)


def test_grpc_requests_carry_the_tensor_bytes_and_lowercase_metadata():
    ep = _ep("kserve_v2_grpc", grpc_target="127.0.0.1:2", headers={"Authorization": "Bearer k"})
    spec = build_payloads(ep, X, batch_size=2).requests[0]
    assert spec.is_grpc and spec.url == "grpc://127.0.0.1:2/inference.GRPCInferenceService/ModelInfer"
    assert spec.headers == {"authorization": "Bearer k"}
    msg = ModelInferRequest.FromString(spec.body)
    assert list(msg.inputs[0].shape) == [2, 1, 8, 8] and msg.raw_input_contents[0] == X.astype("<f4").tobytes()
    ts = build_payloads(_ep("torchserve_grpc", grpc_target="h:3"), X, batch_size=1).requests[0]
    assert PredictionsRequest.FromString(ts.body).input["data"] == X[:1].astype("<f4").tobytes()
    with pytest.raises(ProtocolError, match="no gRPC port"):
        build_payloads(_ep("kserve_v2_grpc"), X)


def test_torchserve_binary_is_the_raw_tensor_alone():
    spec = build_payloads(_ep("torchserve_binary"), X, batch_size=2).requests[0]
    assert spec.body == X.astype("<f4").tobytes() and spec.headers["Content-Type"] == "application/octet-stream"


def test_a_stack_that_does_not_speak_an_encoding_is_a_skipped_cell_with_the_reason():
    tf = get("tfserving")
    assert tf.encoding_reason("grpc") is None  # PredictionService/Predict (test_tfserving_grpc_unit.py)
    assert "it speaks: json, json_columnar, grpc" in tf.encoding_reason("binary")
    assert get("fastapi_onnx").encoding_reason("json_columnar").startswith("FastAPI")
    with pytest.raises(ConfigError):
        tf.encoding_name("binary")
    plans = encoding_plans(get("triton"), _ep("kserve_v2"), ("json", "grpc", "json_columnar"), "docker")
    assert [p.reason is None for p in plans] == [True, False, False]
    assert "opens no gRPC port" in plans[1].reason  # a launcher without the port: SKIPPED, said why


def test_load_encodings_are_validated_up_front():
    assert load_run_config().encodings() == ("json", "binary", "grpc")  # the main job measures every one
    assert load_run_config(overrides={"load": {"encodings": ["grpc", "json"]}}).encodings() == ("grpc", "json")
    for bad in (["xml"], [], ["json", "json"], [1]):
        with pytest.raises(ConfigError, match="encodings"):
            load_run_config(overrides={"load": {"encodings": bad}}).validate()
    load_run_config(overrides={"load": {"encodings": ["binary"]}}).load_settings()  # not a LoadConfig field
    # the SLO search's encoding: each stack's best, the first, or one that is measured
    assert load_run_config().slo_encoding() == "best"
    assert load_run_config(overrides={"load": {"slo_encoding": "grpc"}}).slo_encoding() == "grpc"
    load_run_config(overrides={"load": {"slo_encoding": "first"}}).load_settings()  # not a LoadConfig field
    for bad in ("xml", "json_columnar", 1):
        with pytest.raises(ConfigError, match="slo_encoding"):
            load_run_config(overrides={"load": {"slo_encoding": bad}}).validate()


def test_failed_requests_are_labelled_by_status():
    assert status_label(HTTP_STATUS, 503) == "HTTP 503"
    assert status_label(GRPC_STATUS, 14) == "gRPC UNAVAILABLE"
    assert status_label(GRPC_STATUS, 16) == "gRPC UNAUTHENTICATED"


def test_tfserving_columnar_json_is_the_whole_batch_under_inputs():
    ep = Endpoint(url="http://127.0.0.1:1", encoding="tfserving_columnar", model="m")
    payloads = build_payloads(ep, X, batch_size=2)
    assert json.loads(payloads.requests[0].body) == {"inputs": X.tolist()} and payloads.encoding == "json_columnar"
    adapter = encoding_class("tfserving_columnar")(ep)
    np.testing.assert_array_equal(adapter.parse_response(200, b'{"outputs": [[1, 2], [3, 4]]}', 2), [[1, 2], [3, 4]])
    with pytest.raises(ProtocolError, match="outputs"):
        adapter.parse_response(200, b'{"predictions": [[1, 2]]}', 1)
