"""The asyncio byte stream under httpcore (clients/netstream.py), against real local sockets."""

from __future__ import annotations

import asyncio

import httpcore
import pytest

from deploy_compare.clients.connections import make_transports
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


def test_transports_use_the_asyncio_backend_one_connection_each():
    # The transport swaps httpx 0.28's private `_pool`; fail loudly if an upgrade moves it.
    async def main():
        transports = make_transports(2)
        try:
            for t in transports:
                pool = t._pool
                assert isinstance(pool, httpcore.AsyncConnectionPool)
                assert isinstance(pool._network_backend, AsyncioBackend)
                assert pool._max_connections == 1
        finally:
            for t in transports:
                await t.aclose()

    asyncio.run(main())
