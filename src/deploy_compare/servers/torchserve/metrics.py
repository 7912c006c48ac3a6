"""TorchServe's queue/compute split from its metrics API in Prometheus mode (servers/metrics.py).

The frontend's cumulative counters: ts_queue_latency_microseconds (request accepted -> handed
to a worker) and ts_inference_latency_microseconds (request accepted -> response ready, queue
included), both added when a response is sent. Compute = inference - queue: the Python
worker's time as the Java frontend sees it (the socket round trip to the worker, the
handler's pre/inference/post-processing). Requests are counted by Requests2XX, which is also
added per response: ts_inference_requests_total is added on ARRIVAL, so over a window that
starts with a full queue it would divide the carried-in requests' time by too few requests
(seen: queue + compute above the client's mean at concurrency 16). Requests2XX also counts
health pings; none are sent during a measured run.
"""

from __future__ import annotations

from typing import Any

from ..metrics import Counters, MetricsSource

DEFINITION = (
    "queue: ts_queue_latency_microseconds (accepted -> handed to a worker, batching delay included); "
    "compute: ts_inference_latency_microseconds - queue (the worker round trip: handler pre/inference/post)"
)


def read(metrics: dict[str, float]) -> Counters:
    queue = metrics.get("ts_queue_latency_microseconds", 0.0)
    return Counters(
        requests=metrics.get("Requests2XX", 0.0),
        queue_us=queue,
        compute_us=metrics.get("ts_inference_latency_microseconds", 0.0) - queue,
    )


def metrics_source(launcher: Any) -> MetricsSource | str:
    if not launcher.config.metrics_api:
        return "TorchServe's metrics API is off ([torchserve] metrics_api = false)"
    url = getattr(launcher, "metrics_url", None)
    if not url:
        return "TorchServe's metrics API is not reachable from this launcher"
    return MetricsSource(url, read, "torchserve metrics API (Prometheus)", DEFINITION)
