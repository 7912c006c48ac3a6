"""KServe v2 over gRPC: inference.GRPCInferenceService/ModelInfer (Triton, the FastAPI
service's in-process gRPC server). Tensors travel as raw_input_contents / raw_output_contents
(little-endian bytes), as tritonclient sends them. Messages: grpc_messages.py."""

from __future__ import annotations

import numpy as np

from ..errors import ProtocolError
from .grpc_messages import V2_INFER, ModelInferRequest, ModelInferResponse
from .protocols import GRPC_METHOD, Batch, KServeV2Json, RequestSpec, checked_rows, named_tensors
from .v2 import DATATYPES, datatype_of


def grpc_url(endpoint, method: str) -> str:
    """grpc://host:port/package.Service/Method of an endpoint's gRPC API; ProtocolError without one."""
    if not endpoint.grpc_target:
        raise ProtocolError(f"{endpoint.url}: the server exposes no gRPC port here (Endpoint.grpc_target)")
    return f"grpc://{endpoint.grpc_target}{method}"


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


class KServeV2Grpc(KServeV2Json):
    """KServe v2 ModelInfer over gRPC (the REST health URL of KServeV2Json stays)."""

    name = "kserve_v2_grpc"
    encoding = "grpc"

    @property
    def url(self) -> str:
        return grpc_url(self.endpoint, V2_INFER)

    def build_request(self, batch: Batch) -> RequestSpec:
        body = encode_model_infer(self.endpoint.model, named_tensors(batch, self.endpoint.input_name))
        return RequestSpec(GRPC_METHOD, self.url, self.endpoint.grpc_metadata(), body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        if status != 200:
            raise ProtocolError(f"gRPC status {status}")
        return decode_model_infer(body, batch_size)
