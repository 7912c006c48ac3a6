"""The protobuf messages of the gRPC inference APIs spoken here, built from descriptors at
import time: no generated _pb2 files, no grpcio-tools, nothing fetched.

Only the fields this toolkit reads or writes are declared; their names, numbers and types
are those of the published .proto files, so the bytes on the wire are the same (a field
left out here is skipped as unknown when parsing, as protobuf does for any newer field):
- KServe v2 / Triton, package `inference` (grpc_service.proto): ModelInferRequest,
  ModelInferResponse, service GRPCInferenceService, method ModelInfer.
- TorchServe, package `org.pytorch.serve.grpc.inference` (inference.proto):
  PredictionsRequest, PredictionResponse, service InferenceAPIsService, method Predictions.
- TF Serving, package `tensorflow.serving` (tensorflow_serving/apis/predict.proto, model.proto):
  PredictRequest, PredictResponse, ModelSpec, service PredictionService, method Predict; with
  package `tensorflow`'s TensorProto, TensorShapeProto and DataType (tensorflow/core/framework/
  tensor.proto, tensor_shape.proto, types.proto). tests/client/test_tfserving_grpc_unit.py
  parses these bytes with tensorflow's own message classes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
_POOL = descriptor_pool.DescriptorPool()

V2_SERVICE = "inference.GRPCInferenceService"
V2_INFER = f"/{V2_SERVICE}/ModelInfer"
TS_SERVICE = "org.pytorch.serve.grpc.inference.InferenceAPIsService"
TS_PREDICT = f"/{TS_SERVICE}/Predictions"
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


def _field(
    msg: descriptor_pb2.DescriptorProto, name: str, number: int, ftype: int, label: int = F.LABEL_OPTIONAL, **kw: Any
) -> None:
    f = msg.field.add(name=name, number=number, type=ftype, label=label, **kw)
    if ftype in (F.TYPE_INT64,) and label == F.LABEL_REPEATED:
        f.options.packed = True


def _v2_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="deploy_compare/kserve_v2.proto", package="inference", syntax="proto3")
    contents = fd.message_type.add(name="InferTensorContents")
    rep = F.LABEL_REPEATED
    for name, number, ftype in (
        ("bool_contents", 1, F.TYPE_BOOL),
        ("int_contents", 2, F.TYPE_INT32),
        ("int64_contents", 3, F.TYPE_INT64),
        ("uint_contents", 4, F.TYPE_UINT32),
        ("uint64_contents", 5, F.TYPE_UINT64),
        ("fp32_contents", 6, F.TYPE_FLOAT),
        ("fp64_contents", 7, F.TYPE_DOUBLE),
        ("bytes_contents", 8, F.TYPE_BYTES),
    ):
        _field(contents, name, number, ftype, rep)
    for msg_name, tensor_name, tensors_field, raw_field, raw_number in (
        ("ModelInferRequest", "InferInputTensor", "inputs", "raw_input_contents", 7),
        ("ModelInferResponse", "InferOutputTensor", "outputs", "raw_output_contents", 6),
    ):
        msg = fd.message_type.add(name=msg_name)
        tensor = msg.nested_type.add(name=tensor_name)
        _field(tensor, "name", 1, F.TYPE_STRING)
        _field(tensor, "datatype", 2, F.TYPE_STRING)
        _field(tensor, "shape", 3, F.TYPE_INT64, rep)
        _field(tensor, "contents", 5, F.TYPE_MESSAGE, type_name=".inference.InferTensorContents")
        _field(msg, "model_name", 1, F.TYPE_STRING)
        _field(msg, "model_version", 2, F.TYPE_STRING)
        _field(msg, "id", 3, F.TYPE_STRING)
        _field(msg, tensors_field, 5, F.TYPE_MESSAGE, rep, type_name=f".inference.{msg_name}.{tensor_name}")
        _field(msg, raw_field, raw_number, F.TYPE_BYTES, rep)
    return fd


def _torchserve_file() -> descriptor_pb2.FileDescriptorProto:
    package = "org.pytorch.serve.grpc.inference"
    fd = descriptor_pb2.FileDescriptorProto(name="deploy_compare/torchserve.proto", package=package, syntax="proto3")
    req = fd.message_type.add(name="PredictionsRequest")
    entry = req.nested_type.add(name="InputEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, F.TYPE_STRING)
    _field(entry, "value", 2, F.TYPE_BYTES)
    _field(req, "model_name", 1, F.TYPE_STRING)
    _field(req, "model_version", 2, F.TYPE_STRING)
    _field(req, "input", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name=f".{package}.PredictionsRequest.InputEntry")
    resp = fd.message_type.add(name="PredictionResponse")
    _field(resp, "prediction", 1, F.TYPE_BYTES)
    return fd


def _map_field(msg: descriptor_pb2.DescriptorProto, package: str, name: str, number: int, value_type: str) -> None:
    """map<string, value_type> `name` = number: a repeated nested <Name>Entry {key = 1; value = 2}."""
    entry = msg.nested_type.add(name="".join(part.title() for part in name.split("_")) + "Entry")
    entry.options.map_entry = True
    _field(entry, "key", 1, F.TYPE_STRING)
    _field(entry, "value", 2, F.TYPE_MESSAGE, type_name=value_type)
    _field(msg, name, number, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name=f".{package}.{msg.name}.{entry.name}")


def _tf_tensor_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="deploy_compare/tf_tensor.proto", package="tensorflow", syntax="proto3"
    )
    dtype = fd.enum_type.add(name="DataType")
    for name, number in TF_DATATYPES.items():
        dtype.value.add(name=name, number=number)
    shape = fd.message_type.add(name="TensorShapeProto")
    dim = shape.nested_type.add(name="Dim")
    _field(dim, "size", 1, F.TYPE_INT64)
    _field(dim, "name", 2, F.TYPE_STRING)
    _field(shape, "dim", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name=".tensorflow.TensorShapeProto.Dim")
    _field(shape, "unknown_rank", 3, F.TYPE_BOOL)
    tensor = fd.message_type.add(name="TensorProto")
    _field(tensor, "dtype", 1, F.TYPE_ENUM, type_name=".tensorflow.DataType")
    _field(tensor, "tensor_shape", 2, F.TYPE_MESSAGE, type_name=".tensorflow.TensorShapeProto")
    _field(tensor, "version_number", 3, F.TYPE_INT32)
    _field(tensor, "tensor_content", 4, F.TYPE_BYTES)
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
        _field(tensor, name, number, ftype, rep)
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
    _field(spec, "name", 1, F.TYPE_STRING)
    _field(spec, "signature_name", 3, F.TYPE_STRING)
    req = fd.message_type.add(name="PredictRequest")
    _field(req, "model_spec", 1, F.TYPE_MESSAGE, type_name=f".{package}.ModelSpec")
    _map_field(req, package, "inputs", 2, ".tensorflow.TensorProto")
    _field(req, "output_filter", 3, F.TYPE_STRING, F.LABEL_REPEATED)
    resp = fd.message_type.add(name="PredictResponse")
    _map_field(resp, package, "outputs", 1, ".tensorflow.TensorProto")
    _field(resp, "model_spec", 2, F.TYPE_MESSAGE, type_name=f".{package}.ModelSpec")
    return fd


def _message(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


_POOL.Add(_v2_file())
_POOL.Add(_torchserve_file())
_POOL.Add(_tf_tensor_file())
_POOL.Add(_tfserving_file())
ModelInferRequest = _message("inference.ModelInferRequest")
ModelInferResponse = _message("inference.ModelInferResponse")
PredictionsRequest = _message("org.pytorch.serve.grpc.inference.PredictionsRequest")
PredictionResponse = _message("org.pytorch.serve.grpc.inference.PredictionResponse")
TensorProto = _message("tensorflow.TensorProto")
PredictRequest = _message("tensorflow.serving.PredictRequest")
PredictResponse = _message("tensorflow.serving.PredictResponse")
