"""TF Serving's encodings:
- json: its REST predict, row format: POST /v1/models/<model>:predict {"instances": [<one
  sample>, ...]} -> {"predictions": [[...], ...]}; errors -> {"error": "<message>"}.
- json_columnar: {"inputs": <the whole batch>} -> {"outputs": ...}.
- grpc: tensorflow.serving.PredictionService/Predict on TF Serving's gRPC port (8500 in its
  image; natively a Unix socket, see tfserving_native.py). PredictRequest {model_spec {name,
  signature_name "serving_default"}, inputs {<signature input name>: TensorProto}}: one
  TensorProto per input (a text model's input_ids and attention_mask each under its own
  name), dtype and shape set, the values as tensor_content (little-endian bytes, what
  tensorflow's make_tensor_proto sends). PredictResponse.outputs: the signature's first output
  by name (the manifest's outputs[0]: exporters/savedmodel.py sorts them), read from
  tensor_content or from the typed *_val fields. Messages: built below from
  descriptors (wire/protobuf.py; no tensorflow-serving-api, no tensorflow imported here).

TF Serving itself is SKIPPED on this machine (no binary, no image), so these adapters are
checked against the published formats only (the gRPC bytes by tensorflow's own message
classes in the tests), never against a running TF Serving.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2

from ...clients.encodings import (
    GRPC_METHOD,
    Batch,
    Encoding,
    RequestSpec,
    checked_rows,
    decode_predictions,
    grpc_url,
    named_tensors,
)
from ...errors import ProtocolError
from ...manifest import SAVEDMODEL_SIGNATURE
from ...wire.protobuf import F, field, map_field, message_classes

TFS_SERVICE = "tensorflow.serving.PredictionService"
TFS_PREDICT = f"/{TFS_SERVICE}/Predict"
# tensorflow/core/framework/types.proto: the DataType values of the dtypes sent or read here
TF_DATATYPES = {
    "DT_INVALID": 0,
    "DT_FLOAT": 1,
    "DT_DOUBLE": 2,
    "DT_INT32": 3,
    "DT_UINT8": 4,
    "DT_INT16": 5,
    "DT_INT8": 6,
    "DT_STRING": 7,
    "DT_INT64": 9,
    "DT_BOOL": 10,
    "DT_UINT16": 17,
    "DT_HALF": 19,
    "DT_UINT32": 22,
    "DT_UINT64": 23,
}


def _tf_tensor_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="deploy_compare/tf_tensor.proto", package="tensorflow", syntax="proto3"
    )
    dtype = fd.enum_type.add(name="DataType")
    for name, number in TF_DATATYPES.items():
        dtype.value.add(name=name, number=number)
    shape = fd.message_type.add(name="TensorShapeProto")
    dim = shape.nested_type.add(name="Dim")
    field(dim, "size", 1, F.TYPE_INT64)
    field(dim, "name", 2, F.TYPE_STRING)
    field(shape, "dim", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name=".tensorflow.TensorShapeProto.Dim")
    field(shape, "unknown_rank", 3, F.TYPE_BOOL)
    tensor = fd.message_type.add(name="TensorProto")
    field(tensor, "dtype", 1, F.TYPE_ENUM, type_name=".tensorflow.DataType")
    field(tensor, "tensor_shape", 2, F.TYPE_MESSAGE, type_name=".tensorflow.TensorShapeProto")
    field(tensor, "version_number", 3, F.TYPE_INT32)
    field(tensor, "tensor_content", 4, F.TYPE_BYTES)
    rep = F.LABEL_REPEATED  # proto3: repeated numbers are packed, as tensor.proto declares them
    for name, number, ftype in (
        ("float_val", 5, F.TYPE_FLOAT),
        ("double_val", 6, F.TYPE_DOUBLE),
        ("int_val", 7, F.TYPE_INT32),
        ("int64_val", 10, F.TYPE_INT64),
        ("bool_val", 11, F.TYPE_BOOL),
        ("half_val", 13, F.TYPE_INT32),
        ("uint32_val", 16, F.TYPE_UINT32),
        ("uint64_val", 17, F.TYPE_UINT64),
    ):
        field(tensor, name, number, ftype, rep)
    return fd


def _tfserving_file() -> descriptor_pb2.FileDescriptorProto:
    package = "tensorflow.serving"
    fd = descriptor_pb2.FileDescriptorProto(
        name="deploy_compare/tfserving_predict.proto",
        package=package,
        syntax="proto3",
        dependency=["deploy_compare/tf_tensor.proto"],
    )
    spec = fd.message_type.add(name="ModelSpec")
    field(spec, "name", 1, F.TYPE_STRING)
    field(spec, "signature_name", 3, F.TYPE_STRING)
    req = fd.message_type.add(name="PredictRequest")
    field(req, "model_spec", 1, F.TYPE_MESSAGE, type_name=f".{package}.ModelSpec")
    map_field(req, package, "inputs", 2, ".tensorflow.TensorProto")
    field(req, "output_filter", 3, F.TYPE_STRING, F.LABEL_REPEATED)
    resp = fd.message_type.add(name="PredictResponse")
    map_field(resp, package, "outputs", 1, ".tensorflow.TensorProto")
    field(resp, "model_spec", 2, F.TYPE_MESSAGE, type_name=f".{package}.ModelSpec")
    return fd


_MESSAGES = message_classes(_tf_tensor_file(), _tfserving_file())
TensorProto = _MESSAGES["tensorflow.TensorProto"]
PredictRequest = _MESSAGES["tensorflow.serving.PredictRequest"]
PredictResponse = _MESSAGES["tensorflow.serving.PredictResponse"]

# numpy dtype -> TensorProto DataType name, and the typed field holding values (no tensor_content)
_DTYPES = {
    "float32": ("DT_FLOAT", "float_val"),
    "float64": ("DT_DOUBLE", "double_val"),
    "float16": ("DT_HALF", "half_val"),
    "int8": ("DT_INT8", "int_val"),
    "int16": ("DT_INT16", "int_val"),
    "int32": ("DT_INT32", "int_val"),
    "int64": ("DT_INT64", "int64_val"),
    "uint8": ("DT_UINT8", "int_val"),
    "uint16": ("DT_UINT16", "int_val"),
    "uint32": ("DT_UINT32", "uint32_val"),
    "uint64": ("DT_UINT64", "uint64_val"),
    "bool": ("DT_BOOL", "bool_val"),
}
_BY_NUMBER = {TF_DATATYPES[dt]: (np.dtype(name), field) for name, (dt, field) in _DTYPES.items()}


class TFServingRest(Encoding):
    name = "tfserving"

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/v1/models/{self.endpoint.model}:predict"

    @property
    def health_url(self) -> str:
        return f"{self.endpoint.url}/v1/models/{self.endpoint.model}"


class TFServingColumnar(TFServingRest):
    name = "tfserving_columnar"
    encoding = "json_columnar"

    def build_request(self, batch: Batch) -> RequestSpec:
        if isinstance(batch, Mapping):  # named inputs: TF Serving's columnar {"inputs": {name: array}}
            columns = {name: np.asarray(a).tolist() for name, a in batch.items()}
            return RequestSpec("POST", self.url, self.headers(), json.dumps({"inputs": columns}).encode())
        batch = np.asarray(batch)
        if batch.ndim < 1:
            raise ProtocolError(f"a batch needs a leading batch dimension, got shape {batch.shape}")
        body = json.dumps({"inputs": batch.tolist()}, separators=(",", ":")).encode()
        return RequestSpec("POST", self.url, self.headers(), body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        if not 200 <= status < 300:
            return super().parse_response(status, body, batch_size)
        return decode_predictions(body, batch_size, key="outputs")


def fill_tensor(tensor: Any, array: np.ndarray) -> None:
    """Set a TensorProto to `array`: dtype, shape, little-endian tensor_content."""
    if array.dtype.name not in _DTYPES:
        raise ProtocolError(f"TF Serving's gRPC encoding here sends {', '.join(_DTYPES)}; got {array.dtype}")
    tensor.dtype = TF_DATATYPES[_DTYPES[array.dtype.name][0]]
    for size in array.shape:
        tensor.tensor_shape.dim.add(size=size)
    tensor.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def encode_predict(model: str, tensors: list[tuple[str, np.ndarray]], signature: str = SAVEDMODEL_SIGNATURE) -> bytes:
    request = PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, array in tensors:
        array = np.asarray(array)
        if array.ndim < 1 or array.shape[0] == 0:
            raise ProtocolError(f"a batch needs a non-empty leading batch dimension, got shape {array.shape}")
        fill_tensor(request.inputs[name], array)
    return request.SerializeToString()


def tensor_array(tensor: Any, what: str = "tensor") -> np.ndarray:
    """A TensorProto as a numpy array, from tensor_content or its typed *_val field (fewer values
    than elements repeat the last one, as tensorflow's MakeNdarray does)."""
    if tensor.dtype not in _BY_NUMBER:
        raise ProtocolError(
            f"{what}: DataType {tensor.dtype} is not one of {', '.join(d for d, _ in _DTYPES.values())}"
        )
    dtype, field = _BY_NUMBER[tensor.dtype]
    shape = [int(d.size) for d in tensor.tensor_shape.dim]
    count = int(np.prod(shape)) if shape else 1
    if tensor.tensor_content:
        raw = tensor.tensor_content
        if len(raw) != count * dtype.itemsize:
            raise ProtocolError(f"{what}: {len(raw)} bytes of tensor_content do not hold shape {shape} of {dtype}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)
    values = np.asarray(getattr(tensor, field))
    if field == "half_val":  # float16 bit patterns carried in int32s
        values = values.astype(np.uint16).view(np.float16)
    if len(values) > count:
        raise ProtocolError(f"{what}: {len(values)} values in {field} for shape {shape}")
    if len(values) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.pad(values.astype(dtype), (0, count - len(values)), mode="edge").reshape(shape)


def decode_predict(body: bytes, batch_size: int | None = None) -> np.ndarray:
    """The first output (by name) of a PredictResponse as float64 (batch, ...); ProtocolError otherwise."""
    try:
        response = PredictResponse.FromString(body)
    except Exception as exc:  # protobuf's DecodeError
        raise ProtocolError(f"response is not a PredictResponse ({exc})") from None
    if not response.outputs:
        raise ProtocolError("PredictResponse has no outputs")
    name = sorted(response.outputs)[0]
    out = tensor_array(response.outputs[name], f"outputs[{name!r}]").astype(np.float64)
    return checked_rows(out, f"outputs[{name!r}]", batch_size)


class TFServingGrpc(TFServingRest):
    """PredictionService/Predict over gRPC (the REST model-status URL of TFServingRest stays
    the health check)."""

    name = "tfserving_grpc"
    encoding = "grpc"

    @property
    def url(self) -> str:
        return grpc_url(self.endpoint, TFS_PREDICT)

    def build_request(self, batch: Batch) -> RequestSpec:
        body = encode_predict(self.endpoint.model, named_tensors(batch, self.endpoint.input_name))
        return RequestSpec(GRPC_METHOD, self.url, self.endpoint.grpc_metadata(), body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        if status != 200:
            raise ProtocolError(f"gRPC status {status}")
        return decode_predict(body, batch_size)
