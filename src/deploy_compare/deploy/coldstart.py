"""Cold start: from launch to the first successful inference, and the first requests' latency.

Measured right after the launcher reports healthy, before any warm-up: the first requests
a freshly started server answers are the ones a scale-from-zero user waits for (lazy
initialisation, first allocations, JIT). The image build is not in it (Docker:
image_build_s, reported apart).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

FIRST_REQUESTS = 5
FIRST_OK_DEADLINE_S = 30.0


@dataclass
class ColdStart:
    launch_to_healthy_s: float | None  # start() -> the health check passed
    launch_to_first_inference_s: float | None  # start() -> the first 2xx inference answer
    first_requests_ms: list[float]  # latency of each of the first requests, one at a time
    image_build_s: float | None = None  # Docker: apart (a cached content-addressed image: ~0)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_cold_start(payloads: Any, startup_s: float | None, healthy_at: float, timeout_s: float) -> ColdStart:
    """Send FIRST_REQUESTS requests one after another, the first as soon as possible.

    `healthy_at` is time.monotonic() when the server became healthy; requests that fail
    before the first success (a model still loading behind a ready health check) are
    retried until FIRST_OK_DEADLINE_S and counted in launch_to_first_inference_s.
    """
    return asyncio.run(_measure(payloads, startup_s, healthy_at, timeout_s))


async def _measure(payloads: Any, startup_s: float | None, healthy_at: float, timeout_s: float) -> ColdStart:
    from ..clients.connections import build_requests, close_all, make_transports

    requests = build_requests(payloads, timeout_s)
    transports = make_transports(1, payloads)  # HTTP/1.1 or gRPC, as the payloads are
    latencies: list[float] = []
    first_ok: float | None = None
    last_error = ""
    try:
        i = 0
        while len(latencies) < FIRST_REQUESTS:
            request = requests[i % len(requests)]
            i += 1
            began = time.monotonic()
            try:
                status, _body = await transports[0].send(request)
            except Exception as exc:  # the server may not serve yet: retried until the deadline
                status, last_error = 0, f"{type(exc).__name__}: {exc}"
            took = time.monotonic() - began
            if 200 <= status < 300:
                if first_ok is None:
                    first_ok = began + took
                latencies.append(round(took * 1000.0, 3))
            elif first_ok is not None or time.monotonic() - healthy_at > FIRST_OK_DEADLINE_S:
                last_error = last_error or f"HTTP {status}"
                break
            else:
                last_error = f"HTTP {status}" if status else last_error
                await asyncio.sleep(0.05)
    finally:
        await close_all(transports)
    to_first = None
    if first_ok is not None and startup_s is not None:
        to_first = round(startup_s + (first_ok - healthy_at), 3)
    note = (
        ""
        if len(latencies) == FIRST_REQUESTS
        else f"only {len(latencies)} of {FIRST_REQUESTS} first requests answered ({last_error})"
    )
    return ColdStart(
        launch_to_healthy_s=None if startup_s is None else round(startup_s, 3),
        launch_to_first_inference_s=to_first,
        first_requests_ms=latencies,
        note=note,
    )
