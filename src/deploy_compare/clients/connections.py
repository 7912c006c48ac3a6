"""One HTTP/1.1 keep-alive connection per worker: httpx requests and errors, llhttp parsing.

What a request costs the CLIENT is on the critical path at concurrency 1, so this module
keeps that cost near wrk's. httpx defines everything a user touches: requests are built as
`httpx.Request`s, failures are raised as httpx's exceptions (ConnectError, ConnectTimeout,
ReadTimeout, WriteTimeout, ReadError, RemoteProtocolError), and `Http11Transport` is an
`httpx.AsyncBaseTransport`, so `httpx.AsyncClient(transport=Http11Transport())` runs on it.
What it replaces is the wire layer below httpx (httpcore + h11): measured on a trivial
local endpoint, one request cost ~180 us of client CPU through httpcore + h11 (h11 alone
validates and re-normalises every header of every request, in Python) and ~40 us here.
Against TorchServe at concurrency 1 that difference was a 1.25x p50 and 0.83x throughput
against wrk's (bench/client_vs_wrk.py). So, per request:

- the bytes of each request are serialised ONCE, before the run (`PreparedRequest`), and leave in
  ONE write: a head and body written separately cost ~40 ms per request against TorchServe's
  Netty (delayed ACK), a trap httpcore's two writes fall into;
- responses are parsed by llhttp (Node.js's HTTP parser, through httptools, as uvicorn
  does): status line, headers, Content-Length or chunked bodies, keep-alive;
- each worker (closed loop) or in-flight slot (open loop) owns ONE connection, used by one
  task at a time, so no pool, locks or cancel scopes are needed (wrk's model too).
A connection is reopened when the server closed it or said `Connection: close`, and never
reused after a failure (a late answer to a timed-out request must not be read as the next
one's).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import Any

import httptools
import httpx

from .payload import Payloads
from .records import CONNECT, GRPC_STATUS, TIMEOUT, TRANSPORT

_SSL_CONTEXT: ssl.SSLContext | None = None
# How gRPC calls travel: "h2" (default: our own HTTP/2 connection on the loop thread,
# grpc_h2.py) or "grpcio" (grpcio's asyncio channel, grpc_transport.py); A/B in
# bench/grpc_vs_h2load.py --transport grpcio,h2.
GRPC_TRANSPORT_ENV = "DEPLOY_COMPARE_GRPC_TRANSPORT"


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms; share one context among all connections.
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


class PreparedRequest:
    """An httpx.Request with its wire bytes and what the connection needs, computed once."""

    __slots__ = ("wire", "host", "port", "tls", "connect_timeout", "read_timeout", "write_timeout")

    def __init__(self, request: httpx.Request, timeout: httpx.Timeout) -> None:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"only http:// and https:// URLs are supported, not {url}")
        if request.method == "HEAD":
            # llhttp (through httptools) cannot be told that a response to HEAD has no body.
            raise httpx.UnsupportedProtocol("HEAD requests are not supported by the load transport")
        self.wire = serialize(request)
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = url.scheme == "https"
        self.connect_timeout = timeout.connect
        self.read_timeout = timeout.read
        self.write_timeout = timeout.write


def serialize(request: httpx.Request) -> bytes:
    """The request as HTTP/1.1 bytes: request line, httpx's headers (Host and Content-Length
    included), body. The request's content must have been read."""
    body = request.content
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    has_length = False
    for name, value in request.headers.raw:
        if b"\r" in name + value or b"\n" in name + value:
            raise httpx.LocalProtocolError(f"header {name!r} contains a line break")
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue  # a streamed body was read into `body`: it is sent with a Content-Length
        has_length = has_length or lowered == b"content-length"
        lines.append(name + b": " + value)
    if body and not has_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _ResponseReader(asyncio.Protocol):
    """Feeds received bytes to llhttp and completes `waiter` when a whole response is in."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.keep_alive = True
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by connection_made
        self.last_data = 0.0  # loop time of the last bytes of the current response
        self.usable = True  # False once closed, broken, or sent bytes nobody asked for
        self.write_paused = False
        self.drain_waiter: asyncio.Future | None = None
        self.deadline: asyncio.TimerHandle | None = None

    def begin(self) -> asyncio.Future:
        self.status = 0
        self.headers = []
        self.chunks = []
        self.headers_done = False
        self.last_data = self.loop.time()
        self.waiter = self.loop.create_future()
        return self.waiter

    def end(self) -> None:
        self.waiter = None
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def arm_read_deadline(self, timeout: float, wait: float | None = None) -> None:
        """httpx's read timeout: the longest wait for the NEXT bytes of the response. One timer
        per request; when it fires after bytes arrived, it re-arms for the rest of the wait."""
        self.deadline = self.loop.call_later(timeout if wait is None else wait, self._check_deadline, timeout)

    def _check_deadline(self, timeout: float) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        quiet = self.loop.time() - self.last_data
        if quiet >= timeout * 0.999:
            waiter.set_exception(httpx.ReadTimeout(f"no response bytes for {timeout:g} s"))
        else:
            self.arm_read_deadline(timeout, timeout - quiet)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.usable = False  # bytes while idle: the stream is out of step; never reuse it
            return
        self.last_data = self.loop.time()
        parser = self.parser
        if parser is None:  # after connection_lost: nothing more to parse
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.usable = False
            if not waiter.done():
                waiter.set_exception(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool:
        self._ended(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(httpx.WriteError(f"connection lost while sending ({exc})"))
        # Break the reader <-> parser (its callbacks are this reader's bound methods) and
        # reader <-> transport cycles: the collector is off during a run (runner.collector_paused),
        # so a closed connection must go by reference counting alone, or every connection the
        # open loop opened (more on a busy machine) would stay behind as garbage.
        self.parser = None
        self.transport = None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    # llhttp callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        assert parser is not None  # llhttp calls this from parser.feed_data
        self.status = parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        assert parser is not None  # llhttp calls this from parser.feed_data
        self.keep_alive = parser.should_keep_alive()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ended(self, exc: Exception | None) -> None:
        self.usable = False
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self.headers_done and not self._framed():
            waiter.set_result(None)  # a body delimited by the server closing the connection
        elif not self.headers_done and not self.chunks:
            waiter.set_exception(
                httpx.RemoteProtocolError(
                    "Server disconnected without sending a response." + (f" ({exc})" if exc else "")
                )
            )
        elif exc is not None:
            waiter.set_exception(httpx.ReadError(f"connection lost mid-response ({exc})"))
        else:
            waiter.set_exception(httpx.RemoteProtocolError("Server disconnected mid-response."))

    def _framed(self) -> bool:
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" in names or b"transfer-encoding" in names


class WorkerConnection:
    """One keep-alive HTTP/1.1 connection, (re)opened on demand, used by ONE task at a time.

    Raises httpx.TransportError subclasses; after any failure the connection is dropped and
    the next request opens a new one.
    """

    def __init__(self) -> None:
        self._reader: _ResponseReader | None = None
        self.headers: list[tuple[bytes, bytes]] = []  # the raw headers of the last response

    async def _connect(self, req: PreparedRequest) -> _ResponseReader:
        loop = asyncio.get_running_loop()
        try:
            transport, reader = await asyncio.wait_for(
                loop.create_connection(
                    _ResponseReader,
                    req.host,
                    req.port,
                    ssl=_ssl_context() if req.tls else None,
                    server_hostname=req.host if req.tls else None,
                ),
                req.connect_timeout,
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connect to {req.host}:{req.port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each request is one write
        return reader

    async def send(self, req: PreparedRequest) -> tuple[int, bytes]:
        """(status, body) of one request."""
        reader = self._reader
        if reader is None or not reader.usable:
            self._drop()
            self._reader = reader = await self._connect(req)
        waiter = reader.begin()
        done = False
        try:
            transport = reader.transport
            if transport is None:  # connection_lost already ran: the server closed it before we wrote
                raise httpx.WriteError("connection closed by the server before the request was sent")
            transport.write(req.wire)
            if reader.write_paused:
                await self._drain(reader, req.write_timeout)
            if req.read_timeout is not None:
                reader.arm_read_deadline(req.read_timeout)
            await waiter
            done = True
        finally:
            reader.end()
            if not done:
                self._drop()  # failed or cancelled mid-request: the stream is out of step
        body = b"".join(reader.chunks)
        self.headers = reader.headers
        if not reader.keep_alive:
            self._drop()
        return reader.status, body

    async def _drain(self, reader: _ResponseReader, timeout: float | None) -> None:
        reader.drain_waiter = fut = reader.loop.create_future()
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise httpx.WriteTimeout("sending the request timed out") from None
        finally:
            reader.drain_waiter = None

    def _drop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and reader.transport is not None:
            reader.usable = False
            reader.transport.close()

    async def aclose(self) -> None:
        self._drop()


class Http11Transport(httpx.AsyncBaseTransport):
    """The same connection as an httpx transport: `httpx.AsyncClient(transport=Http11Transport())`.

    The load loops call WorkerConnection directly (no Response objects in the hot path); this
    adapter lets ordinary httpx code, and the tests that compare it with httpx's own transport,
    run on exactly the bytes and parser the loops use. One connection: requests take turns.
    """

    def __init__(self) -> None:
        self._connection = WorkerConnection()
        self._turn = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        timeout = request.extensions.get("timeout")  # set by httpx.AsyncClient
        prepared = PreparedRequest(request, httpx.Timeout(**timeout) if timeout else httpx.Timeout(None))
        async with self._turn:
            status, body = await self._connection.send(prepared)
            headers = self._connection.headers
        # stream=, not content=: httpx would add a Content-Length the server did not send
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(body), extensions={"http_version": b"HTTP/1.1"}
        )

    async def aclose(self) -> None:
        await self._connection.aclose()


def _is_grpc(payloads: Payloads | None) -> bool:
    return payloads is not None and payloads.requests[0].is_grpc


def make_transports(n: int, payloads: Payloads | None = None) -> list[Any]:
    """n connections for these payloads: HTTP/1.1 ones, or gRPC channels (grpc_transport.py)
    when the payloads are gRPC calls. Both have send(prepared) -> (status, body)."""
    if _is_grpc(payloads):
        if os.environ.get(GRPC_TRANSPORT_ENV, "").strip().lower() == "grpcio":
            from .grpc_transport import GrpcConnection

            return [GrpcConnection() for _ in range(n)]
        from .grpc_h2 import GrpcH2Connection

        return [GrpcH2Connection() for _ in range(n)]
    return [WorkerConnection() for _ in range(n)]


def build_requests(payloads: Payloads, timeout_s: float) -> list[Any]:
    """Requests built once as httpx.Requests and serialised once; bodies are immutable bytes.
    gRPC payloads: their prepared calls (grpc_transport.PreparedGrpc)."""
    if _is_grpc(payloads):
        from .grpc_transport import build_grpc_requests

        return build_grpc_requests(payloads.requests, timeout_s)
    timeout = httpx.Timeout(timeout_s)
    return [
        PreparedRequest(httpx.Request(spec.method, spec.url, headers=spec.headers, content=spec.body), timeout)
        for spec in payloads.requests
    ]


async def close_all(connections: list[Any]) -> None:
    for c in connections:
        await c.aclose()


def transport_error_kind(exc: httpx.TransportError) -> int:
    """The record kind of a failed send (a ConnectTimeout is a connect failure, not a timeout)."""
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ConnectError)):
        return CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return TIMEOUT
    if hasattr(exc, "code") and hasattr(exc, "status"):  # grpc_transport.GrpcStatusError
        return GRPC_STATUS
    return TRANSPORT


def error_status(exc: httpx.TransportError) -> int:
    """The status column of a failed send: the gRPC status code of a GrpcStatusError, else 0."""
    return int(getattr(exc, "status", 0))
