"""httpx clients and pre-built requests for the timing loops.

One httpx.AsyncClient per connection (max_connections=1), not one shared pool: httpcore's
pool scans every connection on every request (O(connections) per request, with a
syscall per idle connection), which at concurrency 16 made a shared client ~3x slower
than one client per connection. One connection per worker is also wrk's model.
"""

from __future__ import annotations

import ssl

import httpx

from .payload import Payloads

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms; share one context among all clients.
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def make_clients(n: int, timeout_s: float) -> list[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=None)
    return [
        httpx.AsyncClient(
            limits=limits,
            timeout=timeout_s,
            verify=_ssl_context(),
            http1=True,
            http2=False,
            trust_env=False,  # no proxy from the environment between us and the server
            follow_redirects=False,
        )
        for _ in range(n)
    ]


def build_requests(client: httpx.AsyncClient, payloads: Payloads, timeout_s: float) -> list[httpx.Request]:
    """httpx.Request objects, built once; the bodies are immutable bytes so reuse is safe."""
    return [
        client.build_request(spec.method, spec.url, headers=spec.headers, content=spec.body, timeout=timeout_s)
        for spec in payloads.requests
    ]


async def close_all(clients: list[httpx.AsyncClient]) -> None:
    for c in clients:
        await c.aclose()
