"""How TorchServe serves the TorchScript artifact (validated on construction)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...defaults import default
from ...errors import ConfigError
from ..config import check_image, check_model_name, known_fields, positive_float, positive_int


@dataclass
class TorchServeConfig:
    """How TorchServe serves the TorchScript artifact.

    workers            Python worker processes for the model (min = max: no autoscaling).
    batch_size         server-side batching: requests merged into one handler call (1 = off).
    max_batch_delay_ms how long the frontend waits to fill a batch.
    torch_threads      intra-op threads per worker (None = torch's default: all cores).
    token_expiration_min  lifetime of the inference key; TorchServe's default of 60 min
                       would expire a key in the middle of a long sweep.
    metrics_api        start the Prometheus metrics endpoint (loopback only; natively on 127.0.0.1,
                       in Docker published on the host's 127.0.0.1): the server's view reads its
                       queue and inference-time counters (torchserve/metrics.py). Off: no split.
    base_image         Docker only: FROM of Dockerfile.torchserve (None = its pinned official
                       tag); for an internal registry mirror or the local stand-in.
    """

    workers: int = default("torchserve", "workers")
    batch_size: int = default("torchserve", "batch_size")
    max_batch_delay_ms: int = default("torchserve", "max_batch_delay_ms")
    response_timeout_s: int = 60
    torch_threads: int | None = None
    start_timeout_s: float = 180.0
    token_expiration_min: int = 24 * 60
    java_heap_mb: int = 1024
    metrics_api: bool = True
    model_name: str | None = None  # default: the manifest's model name
    base_image: str | None = None

    def __post_init__(self) -> None:
        owner = "TorchServeConfig"
        check_image(owner, self.base_image)
        positive_int(owner, "workers", self.workers)
        positive_int(owner, "batch_size", self.batch_size)
        positive_int(owner, "max_batch_delay_ms", self.max_batch_delay_ms, minimum=0)
        positive_int(owner, "response_timeout_s", self.response_timeout_s)
        if self.torch_threads is not None:
            positive_int(owner, "torch_threads", self.torch_threads)
        positive_float(owner, "start_timeout_s", self.start_timeout_s)
        positive_int(owner, "token_expiration_min", self.token_expiration_min)
        positive_int(owner, "java_heap_mb", self.java_heap_mb, minimum=128)
        if not isinstance(self.metrics_api, bool):
            raise ConfigError(f"{owner}.metrics_api must be true or false, got {self.metrics_api!r}")
        check_model_name(owner, self.model_name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TorchServeConfig:
        return cls(**known_fields(cls, d))
