"""The FastAPI service's own queue/compute counters (GET /metrics, app.py; servers/metrics.py).

app.py counts, per process: requests answered, the time from a request's arrival (its
middleware) to the start of the model call (body read, JSON parse, the wait for a
thread-pool thread and, on LiteRT, for the interpreter's lock) and the model call itself.
Each uvicorn worker keeps its own counters, so the split is read only with one worker.
"""

from __future__ import annotations

from typing import Any

from ..metrics import Counters, MetricsSource

REQUESTS = "dc_requests_total"
QUEUE = "dc_queue_duration_us_total"
COMPUTE = "dc_compute_duration_us_total"
DEFINITION = (
    "queue: arrival -> model call (body read, JSON parse, waiting for a thread-pool thread and the "
    "runtime's lock); compute: the runtime's predict call"
)


def read(metrics: dict[str, float]) -> Counters:
    return Counters(
        requests=metrics.get(REQUESTS, 0.0), queue_us=metrics.get(QUEUE, 0.0), compute_us=metrics.get(COMPUTE, 0.0)
    )


def metrics_source(launcher: Any) -> MetricsSource | str:
    if launcher.config.workers != 1:
        return f"{launcher.config.workers} uvicorn workers keep separate counters; the split is read with 1 worker"
    endpoint = launcher.endpoint
    return MetricsSource(f"{endpoint.url}/metrics", read, "service /metrics", DEFINITION, headers=endpoint.headers)
