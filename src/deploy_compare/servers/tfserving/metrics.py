"""TF Serving's split from its monitoring endpoint (servers/metrics.py), for when it runs.

TF Serving exports Prometheus metrics when started with --monitoring_config_file whose
prometheus_config has enable: true and path: "/monitoring/prometheus/metrics" (on the REST
port). Its request latency is a histogram of the whole request (`_sum`/`_count` in
microseconds) and its runtime latency one of the session run (the model's compute), so
queue is not separated: queue_us here is request - runtime (decode, batching queue, encode).
Not measured on the machines this was written on (TF Serving is SKIPPED there). The native
launcher passes the monitoring config; the Docker image does not carry one yet, so in Docker
the split is missing with that reason.
"""

from __future__ import annotations

from typing import Any

from ..metrics import Counters, MetricsSource

PATH = "/monitoring/prometheus/metrics"
MONITORING_CONFIG = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
REQUEST = ":tensorflow:serving:request_latency"
RUNTIME = ":tensorflow:serving:runtime_latency"


def read(metrics: dict[str, float]) -> Counters:
    request_us = metrics.get(f"{REQUEST}_sum", 0.0)
    runtime_us = metrics.get(f"{RUNTIME}_sum", 0.0)
    return Counters(
        requests=metrics.get(f"{REQUEST}_count", 0.0), queue_us=request_us - runtime_us, compute_us=runtime_us
    )


DEFINITION = (
    "queue: request latency - runtime latency (decode, batching queue, encode); compute: "
    ":tensorflow:serving:runtime_latency (the session run)"
)


def metrics_source(launcher: Any) -> MetricsSource | str:
    url = getattr(launcher, "metrics_url", None)
    if not url:
        return "TF Serving's monitoring endpoint is configured by the native launcher only"
    return MetricsSource(url, read, "tfserving /monitoring/prometheus/metrics", DEFINITION)
