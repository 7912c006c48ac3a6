"""The load client's adapter for KServe v2 REST with binary tensor data (the format:
wire/v2_binary.py)."""

from __future__ import annotations

import numpy as np

from ..errors import ProtocolError
from ..wire.v2_binary import BINARY_CT, HEADER_LENGTH, decode_binary_response, encode_binary_request
from .encodings import Batch, KServeV2Json, RequestSpec, error_message, named_tensors


class KServeV2Binary(KServeV2Json):
    """KServe v2 REST, inputs and outputs as binary tensor data (see the module doc)."""

    name = "kserve_v2_binary"
    encoding = "binary"

    def build_request(self, batch: Batch) -> RequestSpec:
        body, header_length = encode_binary_request(named_tensors(batch, self.endpoint.input_name))
        headers = self.headers()
        headers["Content-Type"] = BINARY_CT
        headers["Accept"] = f"{BINARY_CT}, application/json"
        headers[HEADER_LENGTH] = str(header_length)
        return RequestSpec("POST", self.url, headers, body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        if not 200 <= status < 300:
            raise ProtocolError(f"HTTP {status}: {error_message(body)}")
        return decode_binary_response(body, batch_size)
