"""Encodings: how requests travel to a server. Each builds a request from a batch and
parses the response. Pure, no I/O.

One logical request can travel as JSON, as raw tensor bytes, or over gRPC (ENCODINGS, what
users choose). How one server API does it is one Encoding subclass with its own
build_request/parse_response, registered under its own name ("torchserve_binary",
"kserve_v2_grpc"; encoding_classes(): SHARED_ENCODINGS, the KServe v2 ones, plus every
stack's own from servers/<stack>/encodings.py, named by its descriptor's encoding_classes).
An Endpoint picks one by `encoding`; a stack descriptor maps each of the ENCODINGS it speaks
to one of those names (Stack.encodings). Here: the base class (JSON bodies in the row format
{"instances": [...]} -> {"predictions": [...]}), the helpers encodings share, and KServe v2
REST JSON (Triton, the FastAPI baseline; the format: wire/v2_json.py).
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
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ProtocolError
from ..wire.checks import checked_rows, response_object

if TYPE_CHECKING:  # the Endpoint asks this module for its URLs: a run-time import would be a cycle
    from .endpoint import Endpoint

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


def grpc_url(endpoint, method: str) -> str:
    """grpc://host:port/package.Service/Method of an endpoint's gRPC API; ProtocolError without one."""
    if not endpoint.grpc_target:
        raise ProtocolError(f"{endpoint.url}: the server exposes no gRPC port here (Endpoint.grpc_target)")
    return f"grpc://{endpoint.grpc_target}{method}"


def one_tensor(batch: Batch, encoding: str) -> np.ndarray:
    """The batch of a single-input model; ProtocolError naming the limit for named inputs."""
    if isinstance(batch, Mapping):
        raise ProtocolError(
            f"{encoding} carries one raw tensor; this model takes the named inputs {list(batch)} "
            "(use the JSON encoding)"
        )
    return np.asarray(batch)


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


class Encoding:
    """How requests travel to one server API. Subclasses set the URL and headers; JSON is shared."""

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


class KServeV2Json(Encoding):
    """KServe v2 / Open Inference Protocol over REST with JSON tensors (wire/v2_json.py)."""

    name = "kserve_v2"

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/v2/models/{self.endpoint.model}/infer"

    @property
    def health_url(self) -> str:
        return f"{self.endpoint.url}/v2/models/{self.endpoint.model}/ready"

    def build_request(self, batch: np.ndarray | Mapping[str, np.ndarray]) -> RequestSpec:
        from ..wire.v2_json import encode_infer_request

        if isinstance(batch, Mapping):  # named inputs: one tensor each, under its own name
            return RequestSpec("POST", self.url, self.headers(), encode_infer_request(batch))
        if not self.endpoint.input_name:
            raise ProtocolError("a KServe v2 endpoint needs the input tensor's name (Endpoint.input_name)")
        body = encode_infer_request(np.asarray(batch), self.endpoint.input_name)
        return RequestSpec("POST", self.url, self.headers(), body)

    def parse_response(self, status: int, body: bytes, batch_size: int | None = None) -> np.ndarray:
        from ..wire.v2_json import decode_infer_response

        if not 200 <= status < 300:
            raise ProtocolError(f"HTTP {status}: {error_message(body)}")
        return decode_infer_response(body, batch_size)


# The encodings every KServe v2 stack shares (Triton, the FastAPI service); each other stack's
# own are in its folder, named by its descriptor (Stack.encoding_classes). "module:Class" entries are
# imported on first use (grpcio only when gRPC is used).
SHARED_ENCODINGS: dict[str, type[Encoding] | str] = {
    KServeV2Json.name: KServeV2Json,
    "kserve_v2_binary": "deploy_compare.clients.v2_binary:KServeV2Binary",
    "kserve_v2_grpc": "deploy_compare.clients.v2_grpc:KServeV2Grpc",
}


@cache
def encoding_classes() -> dict[str, type[Encoding] | str]:
    """Adapter name -> class (or "module:Class"): the shared ones, then each stack's."""
    from ..servers.registry import stacks

    found = dict(SHARED_ENCODINGS)
    for stack in stacks().values():
        found.update(stack.encoding_classes)
    return found


def registered_encodings() -> tuple[str, ...]:
    """Every encoding's name (Endpoint.encoding's allowed values), read from the registry on first use."""
    return tuple(encoding_classes())


def encoding_class(name: str) -> type[Encoding]:
    from ..lazy import import_object

    cls = encoding_classes()[name]
    return import_object(cls) if isinstance(cls, str) else cls


def encoding_for(endpoint: Endpoint) -> Encoding:
    return encoding_class(endpoint.encoding)(endpoint)
