"""Protocol adapters: build a request from a batch, parse a response. Pure, no I/O.

TF Serving REST predict, row format:
    POST {base}/v1/models/{model}:predict   {"instances": [<one sample>, ...]}
    200 -> {"predictions": [[...], ...]}     errors -> {"error": "<message>"} (4xx/5xx)
TorchServe (our handler speaks the same JSON):
    POST {base}/predictions/{model}         Authorization: Bearer <inference key>
    200 -> {"predictions": [[...], ...]}     errors -> {"code": .., "type": .., "message": ..}
KServe v2 / Open Inference Protocol, REST JSON (Triton, the FastAPI baseline): see v2.py.

Encodings: one logical request can travel as JSON, as raw tensor bytes, or over gRPC. Each
way is one Protocol subclass with its own build_request/parse_response, registered in
ADAPTERS under its own name ("module:Class" when it lives in a stack's folder or needs
grpcio: imported on first use). An Endpoint picks one by `protocol`; a stack descriptor maps
the ENCODINGS it speaks to adapter names (Stack.encodings).
    json            the stack's JSON body (row format, or KServe v2 JSON tensors)
    json_columnar   TF Serving's columnar {"inputs": ...} JSON
    binary          raw little-endian tensor bytes (TorchServe), the KServe v2 binary tensor
                    data extension (Triton, the FastAPI service)
    grpc            the stack's gRPC inference API (clients/grpc_transport.py sends it)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..endpoint import Endpoint
from ..errors import ProtocolError

JSON_CT = "application/json"


ENCODINGS = ("json", "json_columnar", "binary", "grpc")
GRPC_METHOD = "GRPC"  # RequestSpec.method of a unary gRPC call (url = "/package.Service/Method")


@dataclass(frozen=True)
class RequestSpec:
    """One pre-encoded request. HTTP: method, url, headers, body. gRPC: method GRPC_METHOD,
    url the full method path, headers the call's metadata, body the serialized message."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def is_grpc(self) -> bool:
        return self.method == GRPC_METHOD


def encode_instances(batch: np.ndarray | Mapping[str, np.ndarray]) -> bytes:
    """{"instances": batch.tolist()} as compact UTF-8 JSON (row format: one item per sample).

    Named inputs (a dict of arrays) use TF Serving's named row format: one object per
    sample, {"instances": [{"input_ids": [...], "attention_mask": [...]}, ...]}.
    """
    if isinstance(batch, Mapping):
        columns = {name: np.asarray(a).tolist() for name, a in batch.items()}
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        return json.dumps({"instances": rows}, separators=(",", ":")).encode()
    if batch.ndim < 1:
        raise ProtocolError(f"a batch needs a leading batch dimension, got shape {batch.shape}")
    return json.dumps({"instances": batch.tolist()}, separators=(",", ":")).encode()


Batch = np.ndarray | Mapping[str, np.ndarray]  # named inputs: {served input name: array}, see payload.py


def named_tensors(batch: Batch, input_name: str | None) -> list[tuple[str, np.ndarray]]:
    """The request's tensors as (name, array): every named input, or the one under `input_name`."""
    if isinstance(batch, Mapping):
        return [(name, np.asarray(a)) for name, a in batch.items()]
    if not input_name:
        raise ProtocolError("a KServe v2 endpoint needs the input tensor's name (Endpoint.input_name)")
    return [(input_name, np.asarray(batch))]


def one_tensor(batch: Batch, encoding: str) -> np.ndarray:
    """The batch of a single-input model; ProtocolError naming the limit for named inputs."""
    if isinstance(batch, Mapping):
        raise ProtocolError(
            f"{encoding} carries one raw tensor; this model takes the named inputs {list(batch)} "
            "(use the JSON encoding)"
        )
    return np.asarray(batch)


def response_object(body: bytes) -> dict:
    """A JSON response body as an object; ProtocolError for anything else or an {"error": ...}."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"response body is not JSON ({exc}): {body[:80]!r}") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"response JSON is not an object: {body[:80]!r}")
    if "error" in doc:
        raise ProtocolError(f"server reported an error: {str(doc['error'])[:200]}")
    return doc


def decode_predictions(body: bytes, batch_size: int | None = None, key: str = "predictions") -> np.ndarray:
    """The `predictions` (row format; columnar: `outputs`) of a JSON body as float64
    (batch, ...); ProtocolError otherwise."""
    doc = response_object(body)
    if key not in doc:
        raise ProtocolError(f"response JSON has no {key!r} (keys: {sorted(doc)[:5]})")
    try:
        preds = np.asarray(doc[key], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{key!r} is not a numeric array ({exc})") from None
    return checked_rows(preds, repr(key), batch_size)


def checked_rows(out: np.ndarray, what: str, batch_size: int | None) -> np.ndarray:
    """A decoded output, refused when it is empty, a scalar, or not one row per sample sent
    (every protocol's decoder ends here)."""
    if out.ndim < 1 or out.size == 0:
        raise ProtocolError(f"{what} is empty or scalar (shape {out.shape})")
    if batch_size is not None and out.shape[0] != batch_size:
        raise ProtocolError(f"{what} has {out.shape[0]} rows for a batch of {batch_size}")
    return out


def error_message(body: bytes) -> str:
    """A short human-readable message from an error body (either server's shape)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace")
    if isinstance(doc, dict):
        for key in ("error", "message", "detail"):
            if key in doc:
                return str(doc[key])[:200]
    return str(doc)[:200]


class Protocol:
    """One server API. Subclasses set the URL and headers; JSON is shared."""

    name = "base"
    encoding = "json"  # one of ENCODINGS

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    @property
    def url(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def health_url(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": JSON_CT, "Accept": JSON_CT}
        h.update(self.endpoint.request_headers())
        return h

    def build_request(self, batch: np.ndarray | Mapping[str, np.ndarray]) -> RequestSpec:
        body = encode_instances(batch if isinstance(batch, Mapping) else np.asarray(batch))
        return RequestSpec("POST", self.url, self.headers(), body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        """Predictions (batch, ...) of a 2xx response; ProtocolError for anything else."""
        if not 200 <= status < 300:
            raise ProtocolError(f"HTTP {status}: {error_message(body)}")
        return decode_predictions(body, batch_size)


class TFServingRest(Protocol):
    name = "tfserving"

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/v1/models/{self.endpoint.model}:predict"

    @property
    def health_url(self) -> str:
        return f"{self.endpoint.url}/v1/models/{self.endpoint.model}"


class TorchServeRest(Protocol):
    name = "torchserve"

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/predictions/{self.endpoint.model}"

    @property
    def health_url(self) -> str:
        return f"{self.endpoint.url}/ping"


class KServeV2Json(Protocol):
    """KServe v2 / Open Inference Protocol over REST with JSON tensors (v2.py)."""

    name = "kserve_v2"

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/v2/models/{self.endpoint.model}/infer"

    @property
    def health_url(self) -> str:
        return f"{self.endpoint.url}/v2/models/{self.endpoint.model}/ready"

    def build_request(self, batch: np.ndarray | Mapping[str, np.ndarray]) -> RequestSpec:
        from .v2 import encode_infer_request

        if isinstance(batch, Mapping):  # named inputs: one tensor each, under its own name
            return RequestSpec("POST", self.url, self.headers(), encode_infer_request(batch))
        if not self.endpoint.input_name:
            raise ProtocolError("a KServe v2 endpoint needs the input tensor's name (Endpoint.input_name)")
        body = encode_infer_request(np.asarray(batch), self.endpoint.input_name)
        return RequestSpec("POST", self.url, self.headers(), body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        from .v2 import decode_infer_response

        if not 200 <= status < 300:
            raise ProtocolError(f"HTTP {status}: {error_message(body)}")
        return decode_infer_response(body, batch_size)


ADAPTERS: dict[str, type[Protocol] | str] = {
    TFServingRest.name: TFServingRest,
    TorchServeRest.name: TorchServeRest,
    KServeV2Json.name: KServeV2Json,
    # Other encodings, imported on first use (stack folders; grpcio only when gRPC is used).
    "tfserving_columnar": "deploy_compare.servers.tfserving.encodings:TFServingColumnar",
    "tfserving_grpc": "deploy_compare.servers.tfserving.encodings:TFServingGrpc",
    "torchserve_binary": "deploy_compare.servers.torchserve.encodings:TorchServeBinary",
    "torchserve_grpc": "deploy_compare.servers.torchserve.encodings:TorchServeGrpc",
    "kserve_v2_binary": "deploy_compare.clients.v2_binary:KServeV2Binary",
    "kserve_v2_grpc": "deploy_compare.clients.v2_grpc:KServeV2Grpc",
}
PROTOCOLS = tuple(ADAPTERS)


def adapter_class(protocol: str) -> type[Protocol]:
    from ..lazy import import_object

    cls = ADAPTERS[protocol]
    return import_object(cls) if isinstance(cls, str) else cls


def adapter_for(endpoint: Endpoint) -> Protocol:
    return adapter_class(endpoint.protocol)(endpoint)
