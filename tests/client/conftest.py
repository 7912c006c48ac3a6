"""A real local HTTP server for the load-client tests: a tiny ASGI app served by uvicorn
on 127.0.0.1 (free port) in a background thread of the test process.

The app serves one model, "digits", on both servers' routes (404 elsewhere), speaks their JSON ({"instances": ...} -> {"predictions": ...})
and reads its behaviour from the first three values of each request's first sample:
    v[0] = delay in ms before answering
    v[1] = mode: 0 answer, 1 HTTP 503 with {"error": ...}, 2 200 with a non-JSON body,
                 3 200 with JSON that has no predictions,
                 4 answer, but one request at a time (a server with a fixed capacity),
                 5 HTTP 413 (a body over the server's size limit)
    v[2] = the class to answer as top-1
`state.stall(seconds)` makes every request arriving in the next `seconds` wait until
the stall ends (a GC pause / model reload), to test the open-loop tail.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass

import pytest

NUM_CLASSES = 10


@dataclass
class AppState:
    stall_until: float = 0.0
    requests: int = 0
    last_headers: dict | None = None
    last_path: str = ""
    lock: asyncio.Lock | None = None

    def stall(self, seconds: float) -> None:
        self.stall_until = time.perf_counter() + seconds


def make_app(state: AppState):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["path"] in ("/ping", "/v1/models/digits"):  # the health URLs (SLO trials wait for them)
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": b'{"status": "Healthy"}'})
            return
        state.requests += 1
        state.last_path = scope["path"]
        state.last_headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        if path not in ("/predictions/digits", "/v1/models/digits:predict"):
            await send(
                {"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": b'{"error": "Model not found: ' + path.encode() + b'"}'})
            return
        wait = state.stall_until - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        row = json.loads(b"".join(chunks))["instances"][0]
        while isinstance(row[0], list):
            row = row[0]
        delay_ms, mode, label = float(row[0]), int(row[1]), int(row[2])
        if mode == 4:
            if state.lock is None:
                state.lock = asyncio.Lock()  # created in the server's own event loop
            async with state.lock:
                await asyncio.sleep(delay_ms / 1000)
        elif delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        status, body = 200, None
        if mode in (0, 4):
            logits = [0.0] * NUM_CLASSES
            logits[label] = 1.0
            body = json.dumps({"predictions": [logits]}).encode()
        elif mode == 1:
            status, body = 503, b'{"error": "model is overloaded"}'
        elif mode == 5:
            status, body = 413, b'{"error": "request body too large"}'
        elif mode == 2:
            body = b"<html>internal proxy page</html>"
        else:
            body = b'{"outputs": [1, 2, 3]}'
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})

    return app


@dataclass
class LocalServer:
    url: str
    state: AppState


@pytest.fixture(scope="module")
def asgi_server():
    import uvicorn

    state = AppState()
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP; with proto 0 every keep-alive response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race with a second bind
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        make_app(state), log_level="warning", lifespan="off", loop="asyncio", http="h11", access_log=False, backlog=512
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn test server did not start within 10 s")
            time.sleep(0.01)
        yield LocalServer(url=f"http://127.0.0.1:{port}", state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def fast_server():
    """bench/trivial_http_server.py in a child process: a server far faster than the client
    (answers at once, no shared GIL), to drive the CLIENT past its capacity."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "trivial_http_server.py"
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
