"""TorchServe's encodings besides REST JSON (the handler, torchserve_handler.py, reads them all):
- binary: POST /predictions/<model>, Content-Type application/octet-stream, body = the batch's
  raw little-endian bytes in the model's dtype (the handler knows the sample shape: a body
  holds len/bytes-per-sample samples). The response is the same {"predictions": ...} JSON.
- grpc: org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions on TorchServe's
  gRPC inference port, the same raw bytes as the `data` input, the inference key as
  `authorization: Bearer <key>` metadata; PredictionResponse.prediction holds the JSON.
"""

from __future__ import annotations

import numpy as np

from ...clients.grpc_messages import TS_PREDICT, PredictionResponse, PredictionsRequest
from ...clients.protocols import GRPC_METHOD, Batch, RequestSpec, TorchServeRest, decode_predictions, one_tensor
from ...clients.v2_grpc import grpc_url
from ...errors import ProtocolError

BINARY_CT = "application/octet-stream"


def raw_bytes(batch: np.ndarray) -> bytes:
    batch = np.asarray(batch)
    if batch.ndim < 1 or batch.shape[0] == 0:
        raise ProtocolError(f"a batch needs a non-empty leading batch dimension, got shape {batch.shape}")
    return np.ascontiguousarray(batch, dtype=batch.dtype.newbyteorder("<")).tobytes()


class TorchServeBinary(TorchServeRest):
    name = "torchserve_binary"
    encoding = "binary"

    def build_request(self, batch: Batch) -> RequestSpec:
        headers = self.headers()
        headers["Content-Type"] = BINARY_CT
        return RequestSpec("POST", self.url, headers, raw_bytes(one_tensor(batch, "TorchServe's binary body")))


class TorchServeGrpc(TorchServeRest):
    name = "torchserve_grpc"
    encoding = "grpc"

    @property
    def url(self) -> str:
        return grpc_url(self.endpoint, TS_PREDICT)

    def build_request(self, batch: Batch) -> RequestSpec:
        request = PredictionsRequest(model_name=self.endpoint.model)
        request.input["data"] = raw_bytes(one_tensor(batch, "TorchServe's gRPC `data` input"))
        return RequestSpec(GRPC_METHOD, self.url, self.endpoint.grpc_metadata(), request.SerializeToString())

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        if status != 200:
            raise ProtocolError(f"gRPC status {status}")
        try:
            prediction = PredictionResponse.FromString(body).prediction
        except Exception as exc:  # protobuf's DecodeError
            raise ProtocolError(f"response is not a PredictionResponse ({exc})") from None
        return decode_predictions(prediction, batch_size)
