"""TF Serving's columnar REST JSON: {"inputs": <the whole batch>} -> {"outputs": ...}.

TF Serving itself is SKIPPED on this machine (no binary, no image), so this adapter is
checked against the documented format only; its gRPC Predict is not built here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from ...clients.protocols import Batch, RequestSpec, TFServingRest, decode_predictions
from ...errors import ProtocolError


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
