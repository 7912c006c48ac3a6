"""How Triton serves the ONNX file: instances, dynamic batching, threads, the Docker image."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ...defaults import default
from ...errors import ConfigError
from ..config import check_model_name, positive_float, positive_int


@dataclass
class TritonConfig:
    """instances            model instances (instance_group count, KIND_CPU), each its own
                            Python stub process natively / ONNX Runtime session in Docker.
    max_batch_size          the largest batch Triton forms or accepts (config max_batch_size).
    dynamic_batching        merge queued requests into one model call.
    max_queue_delay_us      how long a request may wait for others to join its batch.
    preferred_batch_sizes   batch sizes the scheduler aims for ([] = as large as possible).
    threads                 ONNX Runtime intra-op threads per instance (None: its default);
                            the pipeline sets it to the server's core count when it pins.
    base_image              Docker only: the image Dockerfile.triton builds FROM
                            (None: Dockerfile.triton's `ARG BASE_IMAGE`, the pinned official release).
    """

    instances: int = default("triton", "instances")
    max_batch_size: int = default("triton", "max_batch_size")
    dynamic_batching: bool = default("triton", "dynamic_batching")
    max_queue_delay_us: int = default("triton", "max_queue_delay_us")
    preferred_batch_sizes: list[int] = field(default_factory=lambda: default("triton", "preferred_batch_sizes"))
    threads: int | None = None
    start_timeout_s: float = 120.0
    model_name: str | None = None
    base_image: str | None = None

    def __post_init__(self) -> None:
        owner = "TritonConfig"
        positive_int(owner, "instances", self.instances)
        positive_int(owner, "max_batch_size", self.max_batch_size)
        if not isinstance(self.dynamic_batching, bool):
            raise ConfigError(f"{owner}.dynamic_batching must be true or false, got {self.dynamic_batching!r}")
        positive_int(owner, "max_queue_delay_us", self.max_queue_delay_us, minimum=0)
        if not isinstance(self.preferred_batch_sizes, list):
            raise ConfigError(
                f"{owner}.preferred_batch_sizes must be a list of integers, got {self.preferred_batch_sizes!r}"
            )
        for size in self.preferred_batch_sizes:
            positive_int(owner, "preferred_batch_sizes[]", size)
            if size > self.max_batch_size:
                raise ConfigError(
                    f"{owner}.preferred_batch_sizes: {size} is above max_batch_size {self.max_batch_size}"
                )
        if self.threads is not None:
            positive_int(owner, "threads", self.threads)
        positive_float(owner, "start_timeout_s", self.start_timeout_s)
        check_model_name(owner, self.model_name)
        if self.base_image is not None and (not isinstance(self.base_image, str) or not self.base_image.strip()):
            raise ConfigError(f"{owner}.base_image must be an image reference, got {self.base_image!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
