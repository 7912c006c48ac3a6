"""Triton's queue/compute split from its Prometheus metrics (servers/metrics.py).

Per model, cumulative and per request (a request in a dynamic batch is charged the
batch's compute time): nv_inference_request_success, nv_inference_queue_duration_us,
nv_inference_compute_input_duration_us + _infer_ + _output_ (the compute).
"""

from __future__ import annotations

from typing import Any

from ..metrics import Counters, MetricsSource, total

COMPUTE = (
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)
DEFINITION = (
    "queue: nv_inference_queue_duration_us (waiting for a model instance, dynamic batcher included); "
    "compute: nv_inference_compute_input + infer + output duration (natively: the Python backend's "
    "IPC to its stub + model.py running ONNX Runtime)"
)


def read(metrics: dict[str, float]) -> Counters:
    return Counters(
        requests=metrics.get("nv_inference_request_success", 0.0),
        queue_us=metrics.get("nv_inference_queue_duration_us", 0.0),
        compute_us=total(metrics, COMPUTE),
    )


def metrics_source(launcher: Any) -> MetricsSource | str:
    url = getattr(launcher, "metrics_url", None)
    if not url:
        return "Triton's metrics listener is not published by this launcher"
    return MetricsSource(url, read, "triton /metrics (Prometheus)", DEFINITION)
