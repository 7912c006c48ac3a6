"""One gRPC channel (one HTTP/2 connection) per worker, grpcio's asyncio API, raw bytes.

Selected with DEPLOY_COMPARE_GRPC_TRANSPORT=grpcio; the default transport is grpc_h2.py
(less client time per call, see there). Both share PreparedGrpc and GrpcStatusError.

The gRPC twin of connections.WorkerConnection, with the same contract for the loops:
`send(prepared) -> (status, body)`, failures raised as httpx.TransportError subclasses.
- Messages are serialized once before the run (RequestSpec.body) and the response is kept
  as bytes: the multicallable has no (de)serializers, so nothing is parsed while timing;
  analyze.py parses after the run, as it does HTTP bodies.
- A good call returns status 200 (the loops' "2xx is OK" rule); any other gRPC status is
  raised as GrpcStatusError (record kind grpc_status) carrying the status code's name
  (UNAVAILABLE, INVALID_ARGUMENT, DEADLINE_EXCEEDED, UNAUTHENTICATED, ...) and its details.
- Each channel gets a LOCAL subchannel pool: grpcio shares one connection among channels
  to the same target by default, which would put every worker on one HTTP/2 connection.
"""

from __future__ import annotations

import struct
from typing import Any

import grpc
import httpx

from ..errors import ConfigError
from .encodings import RequestSpec

OK_STATUS = 200  # what the loops count as a good response
CHANNEL_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.enable_retries", 0),  # a failure is counted, never retried behind our back
)


class GrpcStatusError(httpx.TransportError):
    """A call ended with a gRPC status other than OK."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.status = int(code.value[0])  # recorded in the status column
        self.details = details


UNIX_PREFIX = "unix:"  # a target "unix:/abs/path.sock": a Unix socket (native TF Serving's gRPC)


def split_target(url: str) -> tuple[str, str]:
    """ "grpc://host:port/pkg.Service/Method" -> ("host:port", "/pkg.Service/Method"); the
    target may be "unix:/abs/path" (the method is always the last two path segments)."""
    if not url.startswith("grpc://"):
        raise ConfigError(f"a gRPC request URL starts with grpc://, got {url!r}")
    parts = url[len("grpc://") :].rsplit("/", 2)
    if len(parts) != 3 or not all(parts) or ("/" in parts[0] and not parts[0].startswith(UNIX_PREFIX + "/")):
        raise ConfigError(f"expected grpc://host:port/package.Service/Method, got {url!r}")
    target, service, method = parts
    return target, f"/{service}/{method}"


def authority(target: str) -> str:
    """The :authority of calls to `target` (grpcio sends "localhost" for a Unix socket)."""
    return "localhost" if target.startswith(UNIX_PREFIX) else target


class PreparedGrpc:
    """A unary call's target, method, metadata and message bytes, computed once."""

    __slots__ = ("target", "method", "metadata", "body", "frame", "timeout", "h2_headers")

    def __init__(self, spec: RequestSpec, timeout_s: float) -> None:
        self.target, self.method = split_target(spec.url)
        # gRPC metadata keys are lowercase ASCII; HTTP-style names are folded.
        self.metadata = tuple((k.lower(), v) for k, v in spec.headers.items())
        self.body = spec.body
        self.frame = struct.pack(">BI", 0, len(spec.body)) + spec.body  # the length-prefixed message (HTTP/2 body)
        self.timeout = timeout_s
        self.h2_headers: bytes | None = None  # the HPACK block of the headers, built once by grpc_h2


class GrpcConnection:
    """One channel, opened on first use, used by ONE task at a time."""

    def __init__(self) -> None:
        self._channel: grpc.aio.Channel | None = None
        self._target = ""
        self._calls: dict[str, Any] = {}

    def _call(self, req: PreparedGrpc) -> Any:
        if self._channel is None or self._target != req.target:
            self._channel = grpc.aio.insecure_channel(req.target, options=CHANNEL_OPTIONS)
            self._target = req.target
            self._calls = {}
        call = self._calls.get(req.method)
        if call is None:
            call = self._calls[req.method] = self._channel.unary_unary(req.method)
        return call

    async def send(self, req: PreparedGrpc) -> tuple[int, bytes]:
        try:
            body = await self._call(req)(req.body, timeout=req.timeout, metadata=req.metadata)
        except grpc.aio.AioRpcError as exc:
            raise GrpcStatusError(exc.code(), exc.details() or "") from None
        return OK_STATUS, body

    async def aclose(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()


def build_grpc_requests(specs: tuple[RequestSpec, ...], timeout_s: float) -> list[PreparedGrpc]:
    return [PreparedGrpc(spec, timeout_s) for spec in specs]
