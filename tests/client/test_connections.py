"""The load client's HTTP/1.1 connection (clients/connections.py) against real local sockets.

Raw asyncio servers answer with exact bytes (framing, keep-alive, faults), and httpx's own
transport (httpcore + h11) is the reference: through httpx.AsyncClient both must return the
same status, headers and body for every framing a server may use.
"""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest

from deploy_compare.clients.connections import Http11Transport, PreparedRequest, WorkerConnection, serialize

pytestmark = [pytest.mark.client, pytest.mark.timeout(60)]

TIMEOUT = httpx.Timeout(5.0)


def _response(status_line: bytes, headers: list[bytes], body: bytes = b"") -> bytes:
    return status_line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """One whole request (head + Content-Length body), or b"" when the client hung up."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


class CannedServer:
    """Answers every request with `answer` (bytes), then closes the connection if `close`."""

    def __init__(self, answer: bytes, close: bool = False, delay_s: float = 0.0) -> None:
        self.answer, self.close, self.delay_s = answer, close, delay_s
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if not request:
                    return
                self.requests.append(request)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(self.answer)
                await writer.drain()
                if self.close:
                    return
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc) -> None:
        self._server.close()


CHUNKED = _response(
    b"HTTP/1.1 200 OK",
    [b"Content-Type: application/json", b"Transfer-Encoding: chunked"],
    b'5\r\n{"a":\r\n4\r\n 12}\r\n0\r\n\r\n',
)
FRAMINGS = {
    "content-length": _response(
        b"HTTP/1.1 200 OK", [b"Content-Type: application/json", b"Content-Length: 9"], b'{"a": 12}'
    ),
    "chunked": CHUNKED,
    "empty 204": _response(b"HTTP/1.1 204 No Content", [b"X-Trace: 7"]),
    "large body": _response(b"HTTP/1.1 200 OK", [b"Content-Length: 3000000"], b"x" * 3_000_000),
    "gzip": _response(
        b"HTTP/1.1 200 OK",
        [b"Content-Encoding: gzip", b"Content-Length: %d" % len(gzip.compress(b"zipped!"))],
        gzip.compress(b"zipped!"),
    ),
    "error status": _response(b"HTTP/1.1 503 Service Unavailable", [b"Content-Length: 23"], b'{"error": "overloaded"}'),
}


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_same_response_as_httpx_own_transport(framing):
    async def fetch(url: str, transport: httpx.AsyncBaseTransport | None) -> tuple:
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client:
            responses = [await client.post(url + "/p", content=b'{"instances": [[1]]}') for _ in range(2)]
        return [(r.status_code, r.headers.multi_items(), r.content) for r in responses]

    async def main():
        server = CannedServer(FRAMINGS[framing])
        async with server as url:
            ours = await fetch(url, Http11Transport())
            ours_connections = server.connections
            reference = await fetch(url, None)
        assert ours == reference
        assert ours[0] == ours[1]
        assert ours_connections == 1  # kept alive across both requests

    asyncio.run(main())


def test_body_delimited_by_close_and_connection_close_are_honoured():
    async def main():
        until_close = _response(b"HTTP/1.1 200 OK", [b"Connection: close"], b"all of it")
        server = CannedServer(until_close, close=True)
        async with server as url:
            async with httpx.AsyncClient(transport=Http11Transport(), timeout=TIMEOUT) as client:
                responses = [await client.get(url) for _ in range(3)]
        assert [r.content for r in responses] == [b"all of it"] * 3
        assert all(r.headers["connection"] == "close" for r in responses)
        assert server.connections == 3  # a new connection after each `Connection: close`

    asyncio.run(main())


def test_request_bytes_leave_in_one_write():
    async def main():
        got: list[bytes] = []

        async def handler(reader, writer):
            got.append(await reader.read(65536))  # whatever the first segment holds
            writer.write(FRAMINGS["content-length"])
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        request = httpx.Request(
            "POST",
            f"http://127.0.0.1:{port}/predictions/m",
            headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
            content=b'{"instances": [[0.5]]}',
        )
        prepared = PreparedRequest(request, TIMEOUT)
        conn = WorkerConnection()
        try:
            assert await conn.send(prepared) == (200, b'{"a": 12}')
        finally:
            await conn.aclose()
            server.close()
        assert got == [prepared.wire]
        head, body = prepared.wire.split(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /predictions/m HTTP/1.1"
        assert {b"Host: 127.0.0.1:%d" % port, b"Content-Length: 22", b"Authorization: Bearer k"} <= set(lines)
        assert body == b'{"instances": [[0.5]]}'

    asyncio.run(main())


def test_header_with_a_line_break_is_refused():
    # httpx.Request accepts it (h11 would refuse it when sending); a header must never inject another
    request = httpx.Request("GET", "http://127.0.0.1:1/", headers={"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        serialize(request)


def test_timeouts_and_refused_connects_raise_httpx_errors():
    async def main():
        async with CannedServer(b"") as url:  # reads the request, never answers
            conn = WorkerConnection()
            request = PreparedRequest(httpx.Request("GET", url), httpx.Timeout(5.0, read=0.2))
            with pytest.raises(httpx.ReadTimeout):
                await conn.send(request)
            await conn.aclose()
        with pytest.raises(httpx.ConnectError):
            await WorkerConnection().send(request)  # the server is gone: refused

    asyncio.run(main())


def test_read_timeout_is_per_read_like_httpx():
    """Bytes that keep coming reset the wait; a response slower in total than the timeout is fine."""

    async def main():
        async def trickle(reader, writer):
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            for b in b"slow!":
                await asyncio.sleep(0.1)
                writer.write(bytes([b]))
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(trickle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        conn = WorkerConnection()
        try:
            status, body = await conn.send(PreparedRequest(httpx.Request("GET", url), httpx.Timeout(5.0, read=0.25)))
        finally:
            await conn.aclose()
            server.close()
        assert (status, body) == (200, b"slow!")

    asyncio.run(main())


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (b"", httpx.RemoteProtocolError, "without sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\ncut short", httpx.RemoteProtocolError, "mid-response"),
        (b"HTTP/1.1 2OO OK\r\n\r\n", httpx.RemoteProtocolError, "malformed HTTP response"),
        (b"<html>not http</html>\r\n\r\n", httpx.RemoteProtocolError, "malformed HTTP response"),
    ],
    ids=["closed before answering", "closed mid-body", "bad status line", "not HTTP"],
)
def test_broken_responses_raise_httpx_protocol_errors(answer, error, match):
    async def main():
        async with CannedServer(answer, close=True) as url:
            conn = WorkerConnection()
            with pytest.raises(error, match=match):
                await conn.send(PreparedRequest(httpx.Request("GET", url), TIMEOUT))
            await conn.aclose()

    asyncio.run(main())


def test_connection_is_not_reused_after_a_timeout():
    """The late answer to a timed-out request must never be read as the next request's."""

    async def main():
        server = CannedServer(FRAMINGS["content-length"], delay_s=0.3)
        async with server as url:
            conn = WorkerConnection()
            slow = PreparedRequest(httpx.Request("GET", url), httpx.Timeout(5.0, read=0.1))
            with pytest.raises(httpx.ReadTimeout):
                await conn.send(slow)
            patient = PreparedRequest(httpx.Request("GET", url), TIMEOUT)
            assert await conn.send(patient) == (200, b'{"a": 12}')
            await conn.aclose()
        assert server.connections == 2

    asyncio.run(main())


def test_idle_connection_closed_by_the_server_is_reopened():
    async def main():
        server = CannedServer(FRAMINGS["content-length"], close=True)  # hangs up after each answer,
        async with server as url:  # without saying `Connection: close`
            conn = WorkerConnection()
            request = PreparedRequest(httpx.Request("GET", url), TIMEOUT)
            first = await conn.send(request)
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
            second = await conn.send(request)
            await conn.aclose()
        assert first == second == (200, b'{"a": 12}')
        assert server.connections == 2

    asyncio.run(main())


def test_cancelled_request_drops_its_connection():
    async def main():
        server = CannedServer(FRAMINGS["content-length"], delay_s=0.3)
        async with server as url:
            conn = WorkerConnection()
            request = PreparedRequest(httpx.Request("GET", url), TIMEOUT)
            task = asyncio.create_task(conn.send(request))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await conn.send(request) == (200, b'{"a": 12}')
            await conn.aclose()
        assert server.connections == 2

    asyncio.run(main())


def test_unsupported_requests_are_refused_before_sending():
    with pytest.raises(httpx.UnsupportedProtocol, match="HEAD"):
        PreparedRequest(httpx.Request("HEAD", "http://127.0.0.1:1/"), TIMEOUT)
    with pytest.raises(httpx.UnsupportedProtocol, match="http://"):
        PreparedRequest(httpx.Request("GET", "ftp://127.0.0.1:1/"), TIMEOUT)


def test_https_verifies_the_server_certificate(tmp_path, monkeypatch):
    import shutil
    import ssl
    import subprocess

    from deploy_compare.clients import connections

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not found: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def main():
        server = CannedServer(FRAMINGS["content-length"])
        tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
        url = f"https://localhost:{tcp.sockets[0].getsockname()[1]}/"
        try:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await WorkerConnection().send(PreparedRequest(httpx.Request("GET", url), TIMEOUT))
            trusting = ssl.create_default_context(cafile=str(cert))
            monkeypatch.setattr(connections, "_SSL_CONTEXT", trusting)
            conn = WorkerConnection()
            assert await conn.send(PreparedRequest(httpx.Request("GET", url), TIMEOUT)) == (200, b'{"a": 12}')
            await conn.aclose()
        finally:
            tcp.close()

    asyncio.run(main())
