"""Unary gRPC calls over one HTTP/2 connection per worker, framed by hand on the asyncio loop
thread: the load loops' gRPC transport. grpcio's channel (grpc_transport.GrpcConnection)
stays selectable with DEPLOY_COMPARE_GRPC_TRANSPORT=grpcio (connections.GRPC_TRANSPORT_ENV).

Why: grpc.aio does its I/O on grpcio's poller thread and hands each completion to the asyncio
loop through a wake-up socket (thread switches per call); measured against h2load (C) on
Triton, bench/grpc_vs_h2load.py, that was 0.55-0.82x its throughput and 1.16-1.73x its p50
at c=1/4/16, and ~400 us of client CPU per call against a trivial local server. This
connection reads and writes on the loop thread, like the HTTP/1.1 client (connections.py):
~150 us per call there, 0.83-1.02x / 0.96-1.17x on Triton in the same rounds. The `h2`
package was tried first and cost ~0.5 ms of Python per call on the shared machine (it
re-encodes headers and runs a full state machine per call), more than grpcio's handoff; so
only what a unary call needs is done here:
- request: HEADERS (:method POST, :path, content-type application/grpc, te: trailers,
  grpc-timeout, the metadata) as an HPACK block of literals WITHOUT indexing, built once per
  prepared call (so the same bytes fit every stream), then DATA with the length-prefixed
  message (flag 0 = uncompressed, 4-byte big-endian length) and END_STREAM: one write;
- answer: frames parsed here, header blocks decoded by `hpack` (every block, in order, to
  keep its dynamic table in step): HEADERS, DATA (one length-prefixed message), trailers
  with grpc-status / grpc-message, or a trailers-only answer;
- SETTINGS, PING, WINDOW_UPDATE, RST_STREAM and GOAWAY are honoured; our receive windows are
  opened to the maximum (topped up past half), and a request body larger than the server's
  windows goes out as it grants more, without blocking the loop.
Same contract as GrpcConnection: `send(prepared) -> (200, message bytes)`; any other outcome
is GrpcStatusError with the status grpcio would report (a refused connect or a lost
connection is UNAVAILABLE, the deadline is DEADLINE_EXCEEDED, an HTTP status other than 200
maps as the gRPC spec's http-grpc-status-mapping says).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from urllib.parse import unquote

import grpc
import hpack

from .grpc_transport import OK_STATUS, UNIX_PREFIX, GrpcStatusError, PreparedGrpc, authority

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 5, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
ENABLE_PUSH, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 2, 4, 5
CANCEL = 8
WINDOW = 2**31 - 1  # the largest window HTTP/2 allows: the server never waits for us
RECV_FRAME = 2**20  # frames we accept (fewer frames per large answer)
_CODES = {code.value[0]: code for code in grpc.StatusCode}
# https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
_HTTP_TO_GRPC = {400: "INTERNAL", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "UNIMPLEMENTED"}
_HTTP_TO_GRPC.update({429: "UNAVAILABLE", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "UNAVAILABLE"})
_RESET_TO_GRPC = {7: "UNAVAILABLE", 8: "CANCELLED", 11: "RESOURCE_EXHAUSTED", 12: "PERMISSION_DENIED"}


def _frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IBI", (len(payload) << 8) | kind, flags, stream_id) + payload


def _status_error(name: str, details: str) -> GrpcStatusError:
    return GrpcStatusError(grpc.StatusCode[name], details)


def grpc_timeout(seconds: float) -> bytes:
    """The grpc-timeout header value: at most 8 digits and a unit."""
    for unit, scale in (b"u", 1e6), (b"m", 1e3), (b"S", 1.0), (b"M", 1 / 60), (b"H", 1 / 3600):
        value = max(1, int(seconds * scale))
        if value < 10**8:
            return b"%d%s" % (value, unit)
    return b"99999999H"


def _literal(name: bytes, value: bytes) -> bytes:
    """An HPACK literal header field without indexing, new name, no Huffman coding."""
    return b"\x00" + hpack.hpack.encode_integer(len(name), 7) + name + hpack.hpack.encode_integer(len(value), 7) + value


def header_block(req: PreparedGrpc) -> bytes:
    """The HPACK block of a call's request headers; no dynamic table, so it fits any stream."""
    fields = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", req.method.encode("ascii")),
        (b":authority", authority(req.target).encode("ascii")),
        (b"te", b"trailers"),
        (b"content-type", b"application/grpc"),
        *((k.encode("ascii"), v.encode("latin-1")) for k, v in req.metadata),
    ]
    if req.timeout is not None:
        fields.append((b"grpc-timeout", grpc_timeout(req.timeout)))
    return b"".join(_literal(n, v) for n, v in fields)


class _Call:
    """One stream: its request body still to send, its window, and the answer so far."""

    __slots__ = ("future", "body", "sent", "window", "headers", "trailers", "chunks")

    def __init__(self, future: asyncio.Future, body: bytes, window: int) -> None:
        self.future = future
        self.body = body
        self.sent = 0
        self.window = window  # how much more request body the server accepts on this stream
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.chunks: list[bytes] = []


class _H2Protocol(asyncio.Protocol):
    """The connection: parses frames as they arrive, completes calls, answers control frames."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.calls: dict[int, _Call] = {}
        self.blocked: list[int] = []  # streams whose body waits for window
        self.next_id = 1
        self.usable = True
        self.buffer = bytearray()
        self.decoder = hpack.Decoder()
        self.decoded: dict[bytes, list[tuple[bytes, bytes]]] = {}  # see _decode
        self.fragments: list[bytes] = []  # a header block continued in CONTINUATION frames
        self.fragment_stream = 0
        self.fragment_end = False
        self.send_window = 65535  # the connection's: HTTP/2's initial value until WINDOW_UPDATEs
        self.peer_initial_window = 65535
        self.peer_max_frame = 16384
        self.received_unacked = 0

    # sending
    def start(self, req: PreparedGrpc, block: bytes, future: asyncio.Future) -> int:
        stream_id = self.next_id
        self.next_id += 2
        if self.next_id >= 2**31:
            self.usable = False  # ids run out: the next call opens a new connection
        body = req.frame
        call = self.calls[stream_id] = _Call(future, body, self.peer_initial_window)
        head = _frame(HEADERS, END_HEADERS, stream_id, block)
        n = len(body)
        if n <= self.send_window and n <= call.window and n <= self.peer_max_frame:
            call.sent = n
            self.send_window -= n
            call.window -= n
            self._write(head + _frame(DATA, END_STREAM, stream_id, body))
        else:
            self._write(head)
            if not self._send_body(stream_id, call):
                self.blocked.append(stream_id)
        return stream_id

    def _send_body(self, stream_id: int, call: _Call) -> bool:
        """Send as much of the body as the windows allow; True once all of it is sent."""
        body, out = call.body, []
        while call.sent < len(body):
            room = min(self.send_window, call.window, self.peer_max_frame)
            if room <= 0:
                break
            chunk = body[call.sent : call.sent + room]
            call.sent += len(chunk)
            self.send_window -= len(chunk)
            call.window -= len(chunk)
            out.append(_frame(DATA, END_STREAM if call.sent >= len(body) else 0, stream_id, chunk))
        if out:
            self._write(b"".join(out))
        return call.sent >= len(body)

    def _resume_blocked(self) -> None:
        self.blocked = [s for s in self.blocked if s in self.calls and not self._send_body(s, self.calls[s])]

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def expire(self, stream_id: int) -> None:
        self.cancel(stream_id, _status_error("DEADLINE_EXCEEDED", "Deadline Exceeded"))

    def cancel(self, stream_id: int, error: GrpcStatusError | None) -> None:
        """Abandon a call (deadline or cancelled task): RST_STREAM, fail its future."""
        call = self.calls.pop(stream_id, None)
        if call is None:
            return
        if error is not None and not call.future.done():
            call.future.set_exception(error)
        self._write(_frame(RST_STREAM, 0, stream_id, struct.pack(">I", CANCEL)))

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        settings = struct.pack(">HIHIHI", ENABLE_PUSH, 0, INITIAL_WINDOW_SIZE, WINDOW, MAX_FRAME_SIZE, RECV_FRAME)
        update = struct.pack(">I", WINDOW - 65535)  # the connection window; streams get theirs from SETTINGS
        self._write(PREFACE + _frame(SETTINGS, 0, 0, settings) + _frame(WINDOW_UPDATE, 0, 0, update))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        offset, size = 0, len(buf)
        try:
            while size - offset >= 9:
                head = int.from_bytes(buf[offset : offset + 4], "big")
                length, kind = head >> 8, head & 0xFF
                if size - offset < 9 + length:
                    break
                flags = buf[offset + 4]
                stream_id = int.from_bytes(buf[offset + 5 : offset + 9], "big") & 0x7FFFFFFF
                payload = bytes(buf[offset + 9 : offset + 9 + length])
                offset += 9 + length
                self._on_frame(kind, flags, stream_id, payload)
        except (hpack.HPACKError, ValueError, IndexError, struct.error) as exc:
            self._broken(_status_error("INTERNAL", f"malformed HTTP/2 from the server: {exc!r}"))
            return
        del buf[:offset]

    def _on_frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self.fragments and kind != CONTINUATION:
            raise ValueError("a header block was interrupted by another frame")
        if kind == DATA:
            self.received_unacked += len(payload)
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            call = self.calls.get(stream_id)
            if call is not None:
                call.chunks.append(payload)
                if flags & END_STREAM:
                    self._finish(stream_id)
            if self.received_unacked > WINDOW // 2:
                self._write(_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.received_unacked)))
                self.received_unacked = 0
        elif kind == HEADERS:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            self.fragment_stream, self.fragment_end = stream_id, bool(flags & END_STREAM)
            self.fragments.append(payload)
            if flags & END_HEADERS:
                self._headers_done()
        elif kind == CONTINUATION:
            if not self.fragments or stream_id != self.fragment_stream:
                raise ValueError("CONTINUATION without a header block")
            self.fragments.append(payload)
            if flags & END_HEADERS:
                self._headers_done()
        elif kind == SETTINGS:
            if not flags & ACK:
                for i in range(0, len(payload) - 5, 6):
                    key, value = struct.unpack_from(">HI", payload, i)
                    if key == INITIAL_WINDOW_SIZE:
                        delta, self.peer_initial_window = value - self.peer_initial_window, value
                        for call in self.calls.values():
                            call.window += delta
                    elif key == MAX_FRAME_SIZE:
                        self.peer_max_frame = value
                self._write(_frame(SETTINGS, ACK, 0))
                if self.blocked:
                    self._resume_blocked()
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if stream_id == 0:
                self.send_window += increment
            elif stream_id in self.calls:
                self.calls[stream_id].window += increment
            if self.blocked:
                self._resume_blocked()
        elif kind == PING:
            if not flags & ACK:
                self._write(_frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            call = self.calls.pop(stream_id, None)
            if call is not None and not call.future.done():
                code = int.from_bytes(payload[:4], "big")
                name = _RESET_TO_GRPC.get(code, "INTERNAL")
                call.future.set_exception(_status_error(name, f"stream reset by the server (HTTP/2 error {code})"))
        elif kind == GOAWAY:
            self.usable = False  # streams above last_stream_id were never processed: fail them
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            for sid in [s for s in self.calls if s > last]:
                call = self.calls.pop(sid)
                if not call.future.done():
                    call.future.set_exception(_status_error("UNAVAILABLE", "the server closed the connection (GOAWAY)"))
        elif kind == PUSH_PROMISE:
            raise ValueError("PUSH_PROMISE although push was disabled")
        # PRIORITY and unknown frame types are ignored, as HTTP/2 says

    def _headers_done(self) -> None:
        block, self.fragments = b"".join(self.fragments), []
        headers = self.decoded.get(block)
        if headers is None:
            headers = self._decode(block)
        call = self.calls.get(self.fragment_stream)
        if call is None:
            return
        if call.headers is None:
            call.headers = headers
        else:
            call.trailers = headers
        if self.fragment_end:
            self._finish(self.fragment_stream)

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """Decode a header block with hpack (~80 us of Python per block here), remembering the
        result while the dynamic table stays as it is: a server answers call after call with
        the same block bytes (indexed fields), and a block that changes nothing in the table
        decodes the same way again. A block that changes the table is never remembered, and
        forgets every remembered one (their indices may now name other entries)."""
        table = self.decoder.header_table
        before = (table.maxsize, tuple(table.dynamic_entries))
        headers: list[tuple[bytes, bytes]] = list(self.decoder.decode(block, raw=True))
        if (table.maxsize, tuple(table.dynamic_entries)) == before:
            if len(self.decoded) < 64:
                self.decoded[block] = headers
        else:
            self.decoded.clear()
        return headers

    def _finish(self, stream_id: int) -> None:
        call = self.calls.pop(stream_id, None)
        if call is not None and not call.future.done():
            call.future.set_result(call)

    def connection_lost(self, exc: Exception | None) -> None:
        self._broken(_status_error("UNAVAILABLE", f"connection lost ({exc or 'closed by the server'})"))

    def _broken(self, error: GrpcStatusError) -> None:
        self.usable = False
        calls, self.calls = self.calls, {}
        for call in calls.values():
            if not call.future.done():
                call.future.set_exception(error)
        if self.transport is not None:
            self.transport.close()


def _answer(call: _Call) -> bytes:
    """The message of a finished call, or GrpcStatusError for any status other than OK."""
    status = 0
    grpc_status = message = None
    for name, value in call.headers or ():
        if name == b":status":
            status = int(value)
        elif name == b"grpc-status":  # a trailers-only answer
            grpc_status = value
        elif name == b"grpc-message":
            message = value
    for name, value in call.trailers or ():
        if name == b"grpc-status":
            grpc_status = value
        elif name == b"grpc-message":
            message = value
    details = unquote(message.decode("utf-8", "replace")) if message else ""
    if status != 200:
        raise _status_error(_HTTP_TO_GRPC.get(status, "UNKNOWN"), details or f"HTTP status {status} from the server")
    if grpc_status is None:
        raise _status_error("INTERNAL", "the answer ended without a grpc-status")
    code = int(grpc_status)
    if code != 0:
        raise GrpcStatusError(_CODES.get(code, grpc.StatusCode.UNKNOWN), details)
    body = call.chunks[0] if len(call.chunks) == 1 else b"".join(call.chunks)
    if len(body) < 5:
        raise _status_error("INTERNAL", f"an OK answer without a response message ({len(body)} bytes)")
    flag, length = struct.unpack_from(">BI", body)
    if flag != 0:
        raise _status_error("INTERNAL", "a compressed response message (no compression was offered)")
    if length != len(body) - 5:
        raise _status_error("INTERNAL", f"response message of {len(body) - 5} bytes, its prefix says {length}")
    return body[5:]


class GrpcH2Connection:
    """One HTTP/2 connection, opened on first use and after a failure; one call at a time."""

    def __init__(self) -> None:
        self._proto: _H2Protocol | None = None
        self._target = ""

    async def _connect(self, req: PreparedGrpc) -> _H2Protocol:
        loop = asyncio.get_running_loop()
        if req.target.startswith(UNIX_PREFIX):
            connect = loop.create_unix_connection(_H2Protocol, req.target[len(UNIX_PREFIX) :])
        else:
            host, _, port = req.target.rpartition(":")
            connect = loop.create_connection(_H2Protocol, host.strip("[]"), int(port))  # [] of an IPv6 literal
        try:
            transport, proto = await asyncio.wait_for(connect, req.timeout)
        except TimeoutError:
            raise _status_error("UNAVAILABLE", f"connect to {req.target} timed out") from None
        except OSError as exc:
            raise _status_error("UNAVAILABLE", f"failed to connect to {req.target}: {exc}") from None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return proto

    async def send(self, req: PreparedGrpc) -> tuple[int, bytes]:
        proto = self._proto
        if proto is None or not proto.usable or self._target != req.target:
            self._drop()
            self._proto = proto = await self._connect(req)
            self._target = req.target
        block = req.h2_headers
        if block is None:
            block = req.h2_headers = header_block(req)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        stream_id = proto.start(req, block, future)
        timer = None if req.timeout is None else loop.call_later(req.timeout, proto.expire, stream_id)
        try:
            call = await future
        except asyncio.CancelledError:
            proto.cancel(stream_id, None)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return OK_STATUS, _answer(call)

    def _drop(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.usable = False
            proto.transport.close()

    async def aclose(self) -> None:
        self._drop()
