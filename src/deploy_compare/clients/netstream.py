"""A plain-asyncio network backend for httpcore (what httpx runs on), for the load loops.

httpx/httpcore/h11 still do all the HTTP. This replaces only the byte pipe below them:
httpcore's default AnyIO stream opens an anyio cancel scope around every read and write,
about a fifth of the client's CPU per request in profiles; here a read with a timeout is
one future plus one timer. It also sends each request in ONE write: httpcore writes the
request head and body separately, and against TorchServe (Netty) two writes cost ~40 ms
per request (measured with a raw socket: head+body in one send 4 ms, in two sends 45 ms,
TCP_NODELAY on), a delayed-ACK interaction that wrk and most production clients never hit
because they write a request at once. Writes are held until the first read of the
response, then sent together.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing

import httpcore

_READ_LIMIT = 1 << 20  # pause the socket when this much is buffered and unread


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.read_waiter: asyncio.Future | None = None
        self.drain_waiter: asyncio.Future | None = None
        self.write_paused = False
        self.read_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _READ_LIMIT and not self.read_paused and self.transport is not None:
            self.transport.pause_reading()
            self.read_paused = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._pending: list[bytes] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._pending.append(buffer)  # sent with the rest of the request at the first read

    async def _flush(self, timeout: float | None) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        p = self._protocol
        if self._transport.is_closing() or p.error is not None:
            raise httpcore.WriteError(f"connection closed before the request was sent ({p.error})")
        self._transport.write(data)
        if p.write_paused:
            loop = asyncio.get_running_loop()
            p.drain_waiter = fut = loop.create_future()
            handle = loop.call_later(timeout, _expire, fut) if timeout is not None else None
            try:
                await fut
            except TimeoutError:
                raise httpcore.WriteTimeout("write timed out") from None
            finally:
                p.drain_waiter = None
                if handle is not None:
                    handle.cancel()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._pending:
            await self._flush(timeout)
        p = self._protocol
        if not p.buffer and not p.eof:
            loop = asyncio.get_running_loop()
            p.read_waiter = fut = loop.create_future()
            handle = loop.call_later(timeout, _expire, fut) if timeout is not None else None
            try:
                await fut
            except TimeoutError:
                raise httpcore.ReadTimeout("read timed out") from None
            finally:
                p.read_waiter = None
                if handle is not None:
                    handle.cancel()
        if p.buffer:
            data = bytes(p.buffer[:max_bytes])
            del p.buffer[:max_bytes]
            if p.read_paused and len(p.buffer) < _READ_LIMIT // 2:
                p.read_paused = False
                self._transport.resume_reading()
            return data
        if p.error is not None:
            raise httpcore.ReadError(str(p.error) or type(p.error).__name__)
        return b""  # the server closed the connection; h11 decides what that means

    async def aclose(self) -> None:
        self._pending.clear()
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(self._transport, self._protocol, ssl_context, server_hostname=server_hostname),
                timeout,
            )
        except TimeoutError:
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return AsyncioStream(typing.cast(asyncio.Transport, transport), self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # An idle keep-alive connection with bytes or EOF waiting was closed by the server.
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info in ("socket", "ssl_object"):
            return self._transport.get_extra_info(info)
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(_Protocol, host, port, local_addr=local), timeout
            )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connect to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(loop.create_unix_connection(_Protocol, path), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connect to {path} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
