"""httpx transports and pre-built requests for the timing loops.

Three choices here keep the client from measuring itself instead of the server:

1. One httpx.AsyncClient per connection (max_connections=1), not one shared pool:
   httpcore's pool scans every connection on every request (O(connections) per request,
   with a syscall per idle connection), which at concurrency 16 made a shared client ~3x
   slower than one client per connection. One connection per worker is also wrk's model.
2. A plain-asyncio byte stream under httpcore (netstream.py): each request leaves in ONE
   write (two writes cost ~40 ms per request against TorchServe), and no anyio cancel
   scope per read/write.
3. The loops call httpx's public transport API (`AsyncHTTPTransport.handle_async_request`,
   the layer `AsyncClient.send` itself ends in) with pre-built `httpx.Request`s. The client
   layer above it adds auth, redirect, cookie and event-hook bookkeeping a load generator
   never uses: skipping it cut the client's CPU per request by 20-30% (measured on a trivial
   local endpoint, 4 connections: ~400 -> ~300 us/request). httpx still does the HTTP.
"""

from __future__ import annotations

import ssl

import httpcore
import httpx

from .netstream import AsyncioBackend
from .payload import Payloads

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms; share one context among all clients.
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


class OneConnectionTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, error mapping), over a one-connection
    httpcore pool on the asyncio stream of netstream.py. Replacing `_pool` relies on httpx 0.28's
    layout (pinned in requirements.lock); the unit tests check it still holds."""

    def __init__(self) -> None:
        super().__init__(verify=_ssl_context(), http1=True, http2=False, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=1,
            max_keepalive_connections=1,
            keepalive_expiry=None,
            http1=True,
            http2=False,
            network_backend=AsyncioBackend(),
        )


def make_transports(n: int) -> list[OneConnectionTransport]:
    return [OneConnectionTransport() for _ in range(n)]


def build_requests(payloads: Payloads, timeout_s: float) -> list[httpx.Request]:
    """httpx.Request objects, built once; the bodies are immutable bytes so reuse is safe."""
    timeout = httpx.Timeout(timeout_s).as_dict()
    return [
        httpx.Request(spec.method, spec.url, headers=spec.headers, content=spec.body, extensions={"timeout": timeout})
        for spec in payloads.requests
    ]


async def send(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> tuple[int, bytes]:
    """(status, body) of one request; raises httpx.TransportError subclasses on failure."""
    response = await transport.handle_async_request(request)
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    return response.status_code, body


async def close_all(transports: list[OneConnectionTransport]) -> None:
    for t in transports:
        await t.aclose()
