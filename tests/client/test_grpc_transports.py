"""Both gRPC transports (grpc_h2's HTTP/2 connection on the loop, grpcio's asyncio channel)
against a real local grpcio server: same answers, same status codes and details."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import grpc
import pytest

from deploy_compare.clients.encodings import GRPC_METHOD, RequestSpec
from deploy_compare.clients.grpc_h2 import GrpcH2Connection, grpc_timeout
from deploy_compare.clients.grpc_transport import GrpcConnection, GrpcStatusError, PreparedGrpc, authority, split_target
from deploy_compare.errors import ConfigError
from deploy_compare.servers.process import free_ports

pytestmark = pytest.mark.client

TRANSPORTS = {"h2": GrpcH2Connection, "grpcio": GrpcConnection}


def _handler(method: str):
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        key = dict(context.invocation_metadata() or ()).get("authorization")
        if key != "Bearer k":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"wrong key {key!r}: 100% refused, ü")
        if request == b"slow":
            await asyncio.sleep(1.0)
        if request == b"empty-fail":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "")
        return request[::-1] * (1 if len(request) < 1000 else 2)

    return grpc.unary_unary_rpc_method_handler(echo) if method == "Echo" else None


class _Service(grpc.GenericRpcHandler):
    def service(self, handler_call_details):
        return _handler(handler_call_details.method.rsplit("/", 1)[-1])


def _prepared(port: int, body: bytes, key: str = "Bearer k", timeout: float = 5.0) -> PreparedGrpc:
    spec = RequestSpec(
        method=GRPC_METHOD, url=f"grpc://127.0.0.1:{port}/test.Svc/Echo", headers={"Authorization": key}, body=body
    )
    return PreparedGrpc(spec, timeout)


async def _with_server(fn):
    (port,) = free_ports(1)
    server = grpc.aio.server(
        handlers=[_Service()],
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        return await fn(port)
    finally:
        await server.stop(None)


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_answers_statuses_deadlines_and_large_bodies(name):
    async def scenario(port: int) -> None:
        conn = TRANSPORTS[name]()
        try:
            for _ in range(3):  # the same connection serves call after call
                assert await conn.send(_prepared(port, b"abc")) == (200, b"cba")
            big = bytes(range(256)) * 4096  # 1 MiB each way: beyond HTTP/2's 64 KiB default windows
            status, body = await conn.send(_prepared(port, big))
            assert status == 200 and body == big[::-1] * 2
            with pytest.raises(GrpcStatusError) as denied:
                await conn.send(_prepared(port, b"abc", key="Bearer wrong"))
            assert denied.value.code == grpc.StatusCode.UNAUTHENTICATED and denied.value.status == 16
            assert denied.value.details == "wrong key 'Bearer wrong': 100% refused, ü"  # percent-decoded
            with pytest.raises(GrpcStatusError) as bad:
                await conn.send(_prepared(port, b"empty-fail"))
            assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(GrpcStatusError) as late:
                await conn.send(_prepared(port, b"slow", timeout=0.2))
            assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert await conn.send(_prepared(port, b"after")) == (200, b"retfa")  # still usable
        finally:
            await conn.aclose()

    asyncio.run(_with_server(scenario))


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_nothing_listening_is_unavailable(name):
    async def scenario() -> None:
        (port,) = free_ports(1)
        conn = TRANSPORTS[name]()
        try:
            with pytest.raises(GrpcStatusError) as gone:
                await conn.send(_prepared(port, b"abc", timeout=2.0))
            assert gone.value.code == grpc.StatusCode.UNAVAILABLE
        finally:
            await conn.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_a_unix_socket_target_answers_the_same(name):
    """grpc://unix:/path/pkg.Service/Method (native TF Serving's gRPC is a Unix socket)."""
    folder = tempfile.mkdtemp(prefix="dc-grpc-")  # short: a socket path has at most 107 bytes
    path = f"{folder}/s.sock"

    def prepared(body: bytes, key: str = "Bearer k") -> PreparedGrpc:
        spec = RequestSpec(GRPC_METHOD, f"grpc://unix:{path}/test.Svc/Echo", {"Authorization": key}, body)
        return PreparedGrpc(spec, 5.0)

    async def scenario() -> None:
        early = TRANSPORTS[name]()
        try:
            with pytest.raises(GrpcStatusError) as gone:  # nothing listens there yet
                await early.send(prepared(b"abc"))
            assert gone.value.code == grpc.StatusCode.UNAVAILABLE
        finally:
            await early.aclose()
        conn = TRANSPORTS[name]()
        try:
            server = grpc.aio.server(handlers=[_Service()])
            server.add_insecure_port(f"unix:{path}")
            await server.start()
            try:
                for _ in range(2):
                    assert await conn.send(prepared(b"abc")) == (200, b"cba")
                with pytest.raises(GrpcStatusError) as denied:
                    await conn.send(prepared(b"abc", key="Bearer wrong"))
                assert denied.value.code == grpc.StatusCode.UNAUTHENTICATED
            finally:
                await server.stop(None)
        finally:
            await conn.aclose()

    try:
        asyncio.run(scenario())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_grpc_urls_split_into_target_and_method_for_tcp_and_unix_targets():
    assert split_target("grpc://127.0.0.1:8500/tensorflow.serving.PredictionService/Predict") == (
        "127.0.0.1:8500",
        "/tensorflow.serving.PredictionService/Predict",
    )
    assert split_target("grpc://unix:/tmp/d/g.sock/a.B/C") == ("unix:/tmp/d/g.sock", "/a.B/C")
    for bad in ("http://h:1/a.B/C", "grpc://h:1/C", "grpc://h/x:1/a.B/C", "grpc://h:1//C"):
        with pytest.raises(ConfigError):
            split_target(bad)
    assert authority("unix:/tmp/d/g.sock") == "localhost" and authority("h:1") == "h:1"


def test_grpc_timeout_header_fits_eight_digits():
    assert grpc_timeout(10.0) == b"10000000u"
    assert grpc_timeout(120.0) == b"120000m"
    assert grpc_timeout(0.0) == b"1u"
    assert grpc_timeout(1e9) == b"16666666M"
