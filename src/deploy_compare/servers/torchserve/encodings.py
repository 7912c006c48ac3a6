"""TorchServe's encodings (the handler, handler.py, reads them all):
- json: POST /predictions/<model> {"instances": [...]} (TF Serving's row format), the
  inference key as `Authorization: Bearer <key>`; 200 -> {"predictions": [[...], ...]},
  errors -> {"code": .., "type": .., "message": ..}.
- binary: POST /predictions/<model>, Content-Type application/octet-stream, body = the batch's
  raw little-endian bytes in the model's dtype (the handler knows the sample shape: a body
  holds len/bytes-per-sample samples). The response is the same {"predictions": ...} JSON.
- grpc: org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions on TorchServe's
  gRPC inference port, the same raw bytes as the `data` input, the inference key as
  `authorization: Bearer <key>` metadata; PredictionResponse.prediction holds the JSON.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import descriptor_pb2

from ...clients.encodings import GRPC_METHOD, Batch, Encoding, RequestSpec, decode_predictions, grpc_url, one_tensor
from ...errors import ProtocolError
from ...wire.protobuf import F, field, message_classes

BINARY_CT = "application/octet-stream"
TS_SERVICE = "org.pytorch.serve.grpc.inference.InferenceAPIsService"
TS_PREDICT = f"/{TS_SERVICE}/Predictions"


def _torchserve_file() -> descriptor_pb2.FileDescriptorProto:
    package = "org.pytorch.serve.grpc.inference"
    fd = descriptor_pb2.FileDescriptorProto(name="deploy_compare/torchserve.proto", package=package, syntax="proto3")
    req = fd.message_type.add(name="PredictionsRequest")
    entry = req.nested_type.add(name="InputEntry")
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_BYTES)
    field(req, "model_name", 1, F.TYPE_STRING)
    field(req, "model_version", 2, F.TYPE_STRING)
    field(req, "input", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name=f".{package}.PredictionsRequest.InputEntry")
    resp = fd.message_type.add(name="PredictionResponse")
    field(resp, "prediction", 1, F.TYPE_BYTES)
    return fd


_MESSAGES = message_classes(_torchserve_file())
PredictionsRequest = _MESSAGES["org.pytorch.serve.grpc.inference.PredictionsRequest"]
PredictionResponse = _MESSAGES["org.pytorch.serve.grpc.inference.PredictionResponse"]


class TorchServeRest(Encoding):
    name = "torchserve"

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/predictions/{self.endpoint.model}"

    @property
    def health_url(self) -> str:
        return f"{self.endpoint.url}/ping"


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
