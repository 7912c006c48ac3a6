"""One HTTP/1.1 connection per worker, driven through httpcore (what httpx runs on).

Three choices here keep the client from measuring itself instead of the server:

1. Each worker (closed loop) or in-flight slot (open loop) owns ONE keep-alive
   `httpcore.AsyncHTTP11Connection`, used directly instead of through a connection pool.
   httpcore's pool (behind httpx's transport) scans its connections, takes locks and waits
   on an event for every request; its connections take an anyio lock (a trip through the
   event loop each) three times per request. None of it does anything for a connection
   that only one task ever uses. One connection per worker is also wrk's model. Measured
   on a trivial local endpoint, in one process, alternating rounds (medians of 5):
   client CPU per request 264 -> 143 us at 4 connections, 319 -> 191 us at 1.
2. A plain-asyncio byte stream under httpcore (netstream.py): each request leaves in ONE
   write (two writes cost ~40 ms per request against TorchServe), and no anyio cancel
   scope per read/write.
3. httpx still defines the request and the errors: requests are built once as
   `httpx.Request`s and mapped to httpcore requests exactly as httpx's
   `AsyncHTTPTransport` maps them; httpcore + h11 write the request and parse the
   response; failures are raised as httpx's exceptions through httpx's own mapping
   (`map_httpcore_exceptions`), so timeouts and connect errors are classified as before.
"""

from __future__ import annotations

import asyncio
import ssl

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions

from .netstream import AsyncioBackend
from .payload import Payloads
from .records import CONNECT, TIMEOUT, TRANSPORT

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms; share one context among all clients.
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def to_httpcore(request: httpx.Request) -> httpcore.Request:
    """The httpcore request httpx's AsyncHTTPTransport.handle_async_request builds (httpx 0.28)."""
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        ),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


class WorkerConnection:
    """One keep-alive HTTP/1.1 connection, (re)opened on demand, used by ONE task at a time.

    Connects lazily on the first request (connect timeout from the request's extensions, TLS
    for https) and again whenever the last connection is closed or the server hung up on it
    while idle, as httpcore's pool would. Raises httpx.TransportError subclasses.
    """

    def __init__(self) -> None:
        self._backend = AsyncioBackend()
        self._conn: httpcore.AsyncHTTP11Connection | None = None

    async def _connect(self, request: httpcore.Request) -> httpcore.AsyncHTTP11Connection:
        origin = request.url.origin
        timeout = request.extensions.get("timeout", {}).get("connect")
        host = origin.host.decode("ascii")
        stream = await self._backend.connect_tcp(host, origin.port, timeout=timeout)
        if origin.scheme == b"https":
            sni = request.extensions.get("sni_hostname") or host
            stream = await stream.start_tls(_ssl_context(), server_hostname=sni, timeout=timeout)
        conn = httpcore.AsyncHTTP11Connection(origin=origin, stream=stream)
        # httpcore guards the connection's state with an anyio lock whose every acquire yields
        # to the event loop (twice per request). Only one task ever uses this connection, so an
        # asyncio.Lock (no yield when free) keeps the same exclusion for ~10% less CPU.
        conn._state_lock = asyncio.Lock()  # type: ignore[assignment]
        return conn

    async def send(self, request: httpcore.Request) -> tuple[int, bytes]:
        """(status, body) of one request."""
        try:
            conn = self._conn
            if conn is None or not conn.is_available() or conn.has_expired():
                self._conn = None
                if conn is not None:
                    await conn.aclose()
                self._conn = conn = await self._connect(request)
            response = await conn.handle_async_request(request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            return response.status, body
        except Exception:
            # httpx's own httpcore -> httpx exception mapping, paid only on failures.
            with map_httpcore_exceptions():
                raise

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()


def make_transports(n: int) -> list[WorkerConnection]:
    return [WorkerConnection() for _ in range(n)]


def build_requests(payloads: Payloads, timeout_s: float) -> list[httpcore.Request]:
    """Requests built once (httpx.Request, then httpx's mapping to httpcore); the bodies are
    immutable bytes so reuse is safe."""
    timeout = httpx.Timeout(timeout_s).as_dict()
    return [
        to_httpcore(
            httpx.Request(spec.method, spec.url, headers=spec.headers, content=spec.body,
                          extensions={"timeout": timeout})
        )
        for spec in payloads.requests
    ]


async def send(connection: WorkerConnection, request: httpcore.Request) -> tuple[int, bytes]:
    """(status, body) of one request; raises httpx.TransportError subclasses on failure."""
    return await connection.send(request)


async def close_all(connections: list[WorkerConnection]) -> None:
    for c in connections:
        await c.aclose()


def transport_error_kind(exc: httpx.TransportError) -> int:
    """The record kind of a failed send (a ConnectTimeout is a connect failure, not a timeout)."""
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ConnectError)):
        return CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return TIMEOUT
    return TRANSPORT

