"""Typed configs of TorchServe and TF Serving (each validated on construction), the
ServerConfig interface every stack's config meets, and the validation helpers stacks share.

Messages name the field and the allowed values so the CLI can print them as one line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..defaults import default
from ..errors import ConfigError

MODES = ("auto", "docker", "native")


class ServerConfig(Protocol):
    """What a launcher reads from any stack's config (the rest is the stack's own)."""

    start_timeout_s: float
    model_name: str | None

    def to_dict(self) -> dict[str, Any]: ...


def _positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _positive_float(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{owner}.{name} must be a number > 0, got {value!r}")


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
        _check_image(owner, self.base_image)
        _positive_int(owner, "workers", self.workers)
        _positive_int(owner, "batch_size", self.batch_size)
        _positive_int(owner, "max_batch_delay_ms", self.max_batch_delay_ms, minimum=0)
        _positive_int(owner, "response_timeout_s", self.response_timeout_s)
        if self.torch_threads is not None:
            _positive_int(owner, "torch_threads", self.torch_threads)
        _positive_float(owner, "start_timeout_s", self.start_timeout_s)
        _positive_int(owner, "token_expiration_min", self.token_expiration_min)
        _positive_int(owner, "java_heap_mb", self.java_heap_mb, minimum=128)
        if not isinstance(self.metrics_api, bool):
            raise ConfigError(f"{owner}.metrics_api must be true or false, got {self.metrics_api!r}")
        _check_model_name(owner, self.model_name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TorchServeConfig:
        return cls(**_known(cls, d))


@dataclass
class TFServingConfig:
    """How TensorFlow Serving serves the SavedModel.

    batching            server-side batching on/off (--enable_batching).
    max_batch_size, batch_timeout_micros, num_batch_threads, max_enqueued_batches
                        written to the batching parameters file when batching is on.
    base_image          Docker only: FROM of Dockerfile.tfserving (None = its pinned tag).
    """

    batching: bool = default("tfserving", "batching")
    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 2
    max_enqueued_batches: int = 100
    start_timeout_s: float = 180.0
    model_name: str | None = None
    base_image: str | None = None

    def __post_init__(self) -> None:
        owner = "TFServingConfig"
        _check_image(owner, self.base_image)
        if not isinstance(self.batching, bool):
            raise ConfigError(f"{owner}.batching must be true or false, got {self.batching!r}")
        _positive_int(owner, "max_batch_size", self.max_batch_size)
        _positive_int(owner, "batch_timeout_micros", self.batch_timeout_micros, minimum=0)
        _positive_int(owner, "num_batch_threads", self.num_batch_threads)
        _positive_int(owner, "max_enqueued_batches", self.max_enqueued_batches)
        _positive_float(owner, "start_timeout_s", self.start_timeout_s)
        _check_model_name(owner, self.model_name)

    def batching_parameters(self) -> str:
        """The text-proto file TF Serving reads with --batching_parameters_file."""
        return (
            f"max_batch_size {{ value: {self.max_batch_size} }}\n"
            f"batch_timeout_micros {{ value: {self.batch_timeout_micros} }}\n"
            f"num_batch_threads {{ value: {self.num_batch_threads} }}\n"
            f"max_enqueued_batches {{ value: {self.max_enqueued_batches} }}\n"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TFServingConfig:
        return cls(**_known(cls, d))


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    allowed = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return dict(d)


def _check_model_name(owner: str, name: str | None) -> None:
    if name is None:
        return
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ConfigError(f"{owner}.model_name must be letters, digits, '_' or '-', got {name!r}")


def _check_image(owner: str, image: str | None) -> None:
    if image is None:
        return
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise ConfigError(f"{owner}.base_image must be an image reference like repo/name:tag, got {image!r}")


def safe_model_name(name: str) -> str:
    """A manifest model name made safe for URLs, archive names and container paths."""
    cleaned = "".join(c if (c.isalnum() or c in "_-") else "_" for c in name).strip("_-")
    return cleaned or "model"


def default_config(kind: str) -> ServerConfig:
    from .registry import get

    config: ServerConfig = get(kind).default_config()
    return config


def check_kind(kind: str) -> None:
    from .registry import get

    get(kind)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"server mode must be one of {', '.join(MODES)}, got {mode!r}")


# Shared with the stacks' own configs (servers/<stack>/config.py).
positive_int = _positive_int
positive_float = _positive_float
check_model_name = _check_model_name
known_fields = _known
