"""The protobuf messages of the gRPC inference APIs spoken here, built from descriptors at
import time: no generated _pb2 files, no grpcio-tools, nothing fetched.

Only the fields this toolkit reads or writes are declared; their names, numbers and types
are those of the published .proto files, so the bytes on the wire are the same (a field
left out here is skipped as unknown when parsing, as protobuf does for any newer field):
- KServe v2 / Triton, package `inference` (grpc_service.proto): ModelInferRequest,
  ModelInferResponse, service GRPCInferenceService, method ModelInfer.
- TorchServe, package `org.pytorch.serve.grpc.inference` (inference.proto):
  PredictionsRequest, PredictionResponse, service InferenceAPIsService, method Predictions.
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


def _message(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


_POOL.Add(_v2_file())
_POOL.Add(_torchserve_file())
ModelInferRequest = _message("inference.ModelInferRequest")
ModelInferResponse = _message("inference.ModelInferResponse")
PredictionsRequest = _message("org.pytorch.serve.grpc.inference.PredictionsRequest")
PredictionResponse = _message("org.pytorch.serve.grpc.inference.PredictionResponse")
