"""TF Serving's gRPC Predict encoding (servers/tfserving/encodings.py) without a server: TF
Serving cannot run here, so the bytes are checked against TensorFlow's OWN message classes
(tensorflow's tensor_pb2 and tensor_util; tensorflow-serving-api's predict_pb2 and the
PredictionService stub's method path), both ways. No figure comes from here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deploy_compare.clients.encodings import encoding_class
from deploy_compare.clients.endpoint import Endpoint
from deploy_compare.clients.payload import build_payloads
from deploy_compare.errors import ProtocolError
from deploy_compare.servers.registry import get
from deploy_compare.servers.tfserving.encodings import (
    TF_DATATYPES,
    TFS_PREDICT,
    PredictRequest,
    PredictResponse,
    decode_predict,
    encode_predict,
)

pytestmark = pytest.mark.unit

X = (np.arange(2 * 8 * 8 * 1, dtype=np.float32).reshape(2, 8, 8, 1) - 50) / 7  # NHWC, as the SavedModel takes it
EP = Endpoint(
    url="http://127.0.0.1:1", encoding="tfserving_grpc", model="digits", input_name="input", grpc_target="127.0.0.1:2"
)


@pytest.fixture(scope="module")
def tf_protos():
    """tensorflow's generated message modules (imported in tests only: the client must not).
    The lock pins tensorflow and tensorflow-serving-api: no skip when they are missing."""
    from tensorflow.core.framework import tensor_pb2, types_pb2
    from tensorflow.python.framework import tensor_util

    return tensor_pb2, types_pb2, tensor_util


@pytest.fixture(scope="module")
def serving_apis():
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    return predict_pb2, prediction_service_pb2_grpc


def _fields(descriptor) -> dict[str, tuple[int, int, bool]]:
    return {f.name: (f.number, f.type, f.is_repeated) for f in descriptor.fields}


def test_our_messages_have_the_official_field_numbers_and_types(tf_protos, serving_apis):
    tensor_pb2, types_pb2, _ = tf_protos
    predict_pb2, _ = serving_apis
    ours = {
        "TensorProto": PredictRequest.DESCRIPTOR.fields_by_name["inputs"].message_type.fields_by_name["value"],
        "PredictRequest": PredictRequest.DESCRIPTOR,
        "PredictResponse": PredictResponse.DESCRIPTOR,
    }
    official_tensor = _fields(tensor_pb2.TensorProto.DESCRIPTOR)
    ours_tensor = _fields(ours["TensorProto"].message_type)
    assert ours_tensor.items() <= official_tensor.items(), set(ours_tensor.items()) - set(official_tensor.items())
    shape = ours["TensorProto"].message_type.fields_by_name["tensor_shape"].message_type
    official_shape = tensor_pb2.TensorProto.DESCRIPTOR.fields_by_name["tensor_shape"].message_type
    assert _fields(shape).items() <= _fields(official_shape).items()
    assert (
        _fields(shape.fields_by_name["dim"].message_type).items()
        <= _fields(official_shape.fields_by_name["dim"].message_type).items()
    )
    for name in ("PredictRequest", "PredictResponse"):
        official = getattr(predict_pb2, name).DESCRIPTOR
        assert _fields(ours[name]).items() <= _fields(official).items(), name
        assert ours[name].full_name == official.full_name
    spec = PredictRequest.DESCRIPTOR.fields_by_name["model_spec"].message_type
    official_spec = predict_pb2.PredictRequest.DESCRIPTOR.fields_by_name["model_spec"].message_type
    assert _fields(spec).items() <= _fields(official_spec).items()
    for dt_name, number in TF_DATATYPES.items():
        assert types_pb2.DataType.Value(dt_name) == number, dt_name


def test_the_method_path_is_the_stubs(serving_apis):
    _, stubs = serving_apis
    import inspect

    assert f"'{TFS_PREDICT}'" in inspect.getsource(stubs.PredictionServiceStub.__init__)


def test_our_predict_request_parses_with_the_official_classes_to_the_same_tensors(tf_protos, serving_apis):
    _, _, tensor_util = tf_protos
    predict_pb2, _ = serving_apis
    payloads = build_payloads(EP, X, batch_size=2)
    spec = payloads.requests[0]
    assert spec.is_grpc and spec.url == f"grpc://127.0.0.1:2{TFS_PREDICT}" and payloads.encoding == "grpc"
    official = predict_pb2.PredictRequest.FromString(spec.body)
    assert official.model_spec.name == "digits" and official.model_spec.signature_name == "serving_default"
    assert list(official.inputs) == ["input"]
    got = tensor_util.MakeNdarray(official.inputs["input"])
    assert got.dtype == np.float32 and np.array_equal(got, X)
    assert official.inputs["input"].tensor_content == X.astype("<f4").tobytes()  # the bytes, not float_val


def test_named_inputs_each_travel_under_their_signature_name(tf_protos, serving_apis):
    """The text preset: input_ids and attention_mask, int64, one TensorProto each."""
    _, _, tensor_util = tf_protos
    predict_pb2, _ = serving_apis
    ids = np.arange(2 * 16, dtype=np.int64).reshape(2, 16) * 1000
    mask = np.ones((2, 16), dtype=np.int64)
    mask[1, 9:] = 0
    body = encoding_class("tfserving_grpc")(EP).build_request({"input_ids": ids, "attention_mask": mask}).body
    official = predict_pb2.PredictRequest.FromString(body)
    assert sorted(official.inputs) == ["attention_mask", "input_ids"]
    for name, want in (("input_ids", ids), ("attention_mask", mask)):
        got = tensor_util.MakeNdarray(official.inputs[name])
        assert got.dtype == np.int64 and np.array_equal(got, want), name


def test_a_response_built_by_the_official_classes_decodes_to_the_same_values(tf_protos, serving_apis):
    _, _, tensor_util = tf_protos
    predict_pb2, _ = serving_apis
    logits = np.array([[0.5, -1.25, 3.0], [2.0, 0.0, -7.5]], dtype=np.float32)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "digits"
    response.outputs["output_0"].CopyFrom(tensor_util.make_tensor_proto(logits))  # tensor_content
    got = encoding_class("tfserving_grpc")(EP).parse_response(200, response.SerializeToString(), 2)
    assert got.dtype == np.float64 and np.array_equal(got, logits)
    # TF Serving may answer with the typed repeated field instead of tensor_content
    typed = predict_pb2.PredictResponse()
    typed.outputs["output_0"].dtype = 1  # DT_FLOAT
    typed.outputs["output_0"].tensor_shape.dim.add(size=2)
    typed.outputs["output_0"].tensor_shape.dim.add(size=3)
    typed.outputs["output_0"].float_val.extend(logits.ravel().tolist())
    np.testing.assert_array_equal(decode_predict(typed.SerializeToString(), 2), logits)
    halves = predict_pb2.PredictResponse()
    halves.outputs["y"].CopyFrom(tensor_util.make_tensor_proto(logits.astype(np.float16)))
    halves.outputs["y"].ClearField("tensor_content")
    halves.outputs["y"].ClearField("half_val")
    halves.outputs["y"].half_val.extend(logits.astype(np.float16).view(np.uint16).ravel().tolist())
    assert np.array_equal(tensor_util.MakeNdarray(halves.outputs["y"]), logits.astype(np.float16))  # as TF reads it
    np.testing.assert_array_equal(decode_predict(halves.SerializeToString(), 2), logits.astype(np.float16))
    # several outputs: the first by name, as the manifest lists the signature's outputs
    two = predict_pb2.PredictResponse()
    two.outputs["b"].CopyFrom(tensor_util.make_tensor_proto(np.zeros((2, 3), np.float32)))
    two.outputs["a"].CopyFrom(tensor_util.make_tensor_proto(logits))
    np.testing.assert_array_equal(decode_predict(two.SerializeToString(), 2), logits)


def test_bad_responses_and_inputs_are_protocol_errors():
    adapter = encoding_class("tfserving_grpc")(EP)
    with pytest.raises(ProtocolError, match="gRPC status 14"):
        adapter.parse_response(14, b"", 1)
    with pytest.raises(ProtocolError, match="no outputs"):
        decode_predict(PredictResponse().SerializeToString(), 1)
    with pytest.raises(ProtocolError, match="not a PredictResponse"):
        decode_predict(b"\xff\xff\xff", 1)
    short = PredictResponse()
    short.outputs["o"].dtype = TF_DATATYPES["DT_FLOAT"]
    short.outputs["o"].tensor_shape.dim.add(size=2)
    short.outputs["o"].tensor_content = b"\0" * 4
    with pytest.raises(ProtocolError, match="do not hold shape"):
        decode_predict(short.SerializeToString(), 2)
    one = np.array([[1.0, 2.0]], dtype=np.float32)
    with pytest.raises(ProtocolError, match="rows for a batch of 2"):
        decode_predict(_response_with(one), 2)
    with pytest.raises(ProtocolError, match="complex64"):
        encode_predict("m", [("x", np.zeros((1, 2), np.complex64))])
    with pytest.raises(ProtocolError, match="no gRPC port"):
        build_payloads(dataclasses.replace(EP, grpc_target=None), X)


def _response_with(array: np.ndarray) -> bytes:
    """A PredictResponse of ours with one output, through our own encoder's tensor filling."""
    request = PredictRequest.FromString(encode_predict("m", [("o", array)]))
    response = PredictResponse()
    response.outputs["o"].CopyFrom(request.inputs["o"])
    return response.SerializeToString()


def test_tfserving_speaks_grpc_and_our_tensor_round_trips():
    tf = get("tfserving")
    assert tf.encoding_name("grpc") == "tfserving_grpc" and tf.encoding_reason("grpc") is None
    np.testing.assert_array_equal(decode_predict(_response_with(X.reshape(2, -1)), 2), X.reshape(2, -1))
