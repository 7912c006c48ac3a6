"""The load client's adapter for KServe v2 over gRPC (Triton, the FastAPI service's
in-process gRPC server); the messages and their codec: wire/v2_grpc.py."""

from __future__ import annotations

import numpy as np

from ..errors import ProtocolError
from ..wire.v2_grpc import V2_INFER, decode_model_infer, encode_model_infer
from .encodings import GRPC_METHOD, Batch, KServeV2Json, RequestSpec, grpc_url, named_tensors


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
