"""The asyncio byte stream under httpcore (clients/netstream.py), against real local sockets."""

from __future__ import annotations

import asyncio

import httpcore
import httpx
import pytest

from deploy_compare.clients.connections import make_transports, to_httpcore
from deploy_compare.clients.netstream import AsyncioBackend

pytestmark = [pytest.mark.client, pytest.mark.timeout(60)]


async def _server(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_request_leaves_in_one_write_at_the_first_read():
    async def main():
        received: list[bytes] = []
        got_any = asyncio.Event()

        async def handler(reader, writer):
            data = await reader.read(65536)
            received.append(data)
            got_any.set()
            writer.write(b"pong")
            await writer.drain()
            writer.close()

        server, port = await _server(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            await stream.write(b"HEAD\r\n\r\n")
            await stream.write(b"BODY")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(got_any.wait(), 0.2)  # nothing sent before the read
            assert await stream.read(100, timeout=5) == b"pong"
            assert received == [b"HEAD\r\n\r\nBODY"]  # one segment, both writes
            assert await stream.read(100, timeout=5) == b""  # server closed: EOF, not an error
            assert stream.get_extra_info("is_readable") is True
            await stream.aclose()

    asyncio.run(main())


def test_read_timeout_and_connect_error_map_to_httpcore_errors():
    async def main():
        async def silent(reader, writer):
            await asyncio.sleep(5)

        server, port = await _server(silent)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            await stream.write(b"x")
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(10, timeout=0.1)
            assert stream.get_extra_info("is_readable") is False
            await stream.aclose()
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)

    asyncio.run(main())


def test_worker_connections_use_httpcore_and_the_asyncio_backend():
    # WorkerConnection relies on httpcore 1.0's AsyncHTTP11Connection keeping its state lock in
    # `_state_lock` and on httpx 0.28's map_httpcore_exceptions; fail loudly if an upgrade moves them.
    async def handler(reader, writer):
        try:
            while await reader.readuntil(b"\r\n\r\n"):  # GETs without a body, kept alive
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()  # the client hung up

    async def main():
        server, port = await _server(handler)
        conns = make_transports(2)
        try:
            for c in conns:
                assert isinstance(c._backend, AsyncioBackend)
                assert c._conn is None  # connects lazily
            request = to_httpcore(httpx.Request("GET", f"http://127.0.0.1:{port}/"))
            status, _ = await conns[0].send(request)
            conn = conns[0]._conn
            assert isinstance(conn, httpcore.AsyncHTTP11Connection)
            assert isinstance(conn._state_lock, asyncio.Lock)
            assert conn.is_available()  # kept alive for the next request
            status2, _ = await conns[0].send(request)
            assert conns[0]._conn is conn and status == status2 == 200
        finally:
            for c in conns:
                await c.aclose()
            server.close()

    asyncio.run(main())
