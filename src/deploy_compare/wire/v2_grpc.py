"""KServe v2 over gRPC: the messages of inference.GRPCInferenceService/ModelInfer (package
`inference`, grpc_service.proto: ModelInferRequest, ModelInferResponse) and their codec.
Tensors travel as raw_input_contents / raw_output_contents (little-endian bytes), as
tritonclient sends them. The client's adapter: clients/v2_grpc.py; the FastAPI service's
server: servers/fastapi_service/grpc_server.py.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import descriptor_pb2

from ..errors import ProtocolError
from .checks import checked_rows
from .protobuf import F, field, message_classes
from .v2_json import DATATYPES, datatype_of

V2_SERVICE = "inference.GRPCInferenceService"
V2_INFER = f"/{V2_SERVICE}/ModelInfer"


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
        field(contents, name, number, ftype, rep)
    for msg_name, tensor_name, tensors_field, raw_field, raw_number in (
        ("ModelInferRequest", "InferInputTensor", "inputs", "raw_input_contents", 7),
        ("ModelInferResponse", "InferOutputTensor", "outputs", "raw_output_contents", 6),
    ):
        msg = fd.message_type.add(name=msg_name)
        tensor = msg.nested_type.add(name=tensor_name)
        field(tensor, "name", 1, F.TYPE_STRING)
        field(tensor, "datatype", 2, F.TYPE_STRING)
        field(tensor, "shape", 3, F.TYPE_INT64, rep)
        field(tensor, "contents", 5, F.TYPE_MESSAGE, type_name=".inference.InferTensorContents")
        field(msg, "model_name", 1, F.TYPE_STRING)
        field(msg, "model_version", 2, F.TYPE_STRING)
        field(msg, "id", 3, F.TYPE_STRING)
        field(msg, tensors_field, 5, F.TYPE_MESSAGE, rep, type_name=f".inference.{msg_name}.{tensor_name}")
        field(msg, raw_field, raw_number, F.TYPE_BYTES, rep)
    return fd


_MESSAGES = message_classes(_v2_file())
ModelInferRequest = _MESSAGES["inference.ModelInferRequest"]
ModelInferResponse = _MESSAGES["inference.ModelInferResponse"]


def encode_model_infer(model: str, tensors: list[tuple[str, np.ndarray]]) -> bytes:
    request = ModelInferRequest(model_name=model)
    for name, array in tensors:
        array = np.asarray(array)
        if array.ndim < 1:
            raise ProtocolError(f"a batch needs a leading batch dimension, got shape {array.shape}")
        tensor = request.inputs.add(name=name, datatype=datatype_of(array.dtype))
        tensor.shape.extend(array.shape)
        request.raw_input_contents.append(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    return request.SerializeToString()


def decode_model_infer(body: bytes, batch_size: int | None = None) -> np.ndarray:
    """The first output of a ModelInferResponse as float64 (batch, ...); ProtocolError otherwise."""
    try:
        response = ModelInferResponse.FromString(body)
    except Exception as exc:  # protobuf's DecodeError
        raise ProtocolError(f"response is not a ModelInferResponse ({exc})") from None
    if not response.outputs:
        raise ProtocolError("ModelInferResponse has no outputs")
    first = response.outputs[0]
    if first.datatype not in DATATYPES:
        raise ProtocolError(f"outputs[0].datatype {first.datatype!r} is not one of {', '.join(DATATYPES)}")
    shape = list(first.shape)
    dtype = np.dtype(DATATYPES[first.datatype]).newbyteorder("<")
    if response.raw_output_contents:
        raw = response.raw_output_contents[0]
        count = int(np.prod(shape)) if shape else 1
        if len(raw) != count * dtype.itemsize:
            raise ProtocolError(f"outputs[0]: {len(raw)} bytes do not hold shape {shape} of {first.datatype}")
        out = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.float64)
    else:
        out = np.asarray(first.contents.fp32_contents or first.contents.fp64_contents, dtype=np.float64)
        if out.size != (int(np.prod(shape)) if shape else 1):
            raise ProtocolError(f"outputs[0] contents do not fill shape {shape}")
        out = out.reshape(shape)
    return checked_rows(out, "outputs[0]", batch_size)
