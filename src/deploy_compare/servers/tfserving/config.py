"""How TF Serving serves the SavedModel (validated on construction)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...defaults import default
from ...errors import ConfigError
from ..config import check_image, check_model_name, known_fields, positive_float, positive_int


@dataclass
class TFServingConfig:
    """How TensorFlow Serving serves the SavedModel.

    batching            server-side batching on/off (--enable_batching).
    max_batch_size, batch_timeout_micros, num_batch_threads, max_enqueued_batches
                        written to the batching parameters file when batching is on.
    threads             TensorFlow session intra-op threads (--tensorflow_intra_op_parallelism, with
                        one inter-op thread); None = TensorFlow's default (every core). `run` sets
                        it to the server's pinned cores, like every other stack's threads.
    base_image          Docker only: FROM of Dockerfile.tfserving (None = its pinned tag).
    """

    batching: bool = default("tfserving", "batching")
    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 2
    max_enqueued_batches: int = 100
    threads: int | None = None
    start_timeout_s: float = 180.0
    model_name: str | None = None
    base_image: str | None = None

    def __post_init__(self) -> None:
        owner = "TFServingConfig"
        check_image(owner, self.base_image)
        if not isinstance(self.batching, bool):
            raise ConfigError(f"{owner}.batching must be true or false, got {self.batching!r}")
        positive_int(owner, "max_batch_size", self.max_batch_size)
        positive_int(owner, "batch_timeout_micros", self.batch_timeout_micros, minimum=0)
        positive_int(owner, "num_batch_threads", self.num_batch_threads)
        positive_int(owner, "max_enqueued_batches", self.max_enqueued_batches)
        if self.threads is not None:
            positive_int(owner, "threads", self.threads)
        positive_float(owner, "start_timeout_s", self.start_timeout_s)
        check_model_name(owner, self.model_name)

    def thread_flags(self) -> list[str]:
        """tensorflow_model_server flags for `threads` ([] = TensorFlow's defaults)."""
        if not self.threads:
            return []
        return [f"--tensorflow_intra_op_parallelism={self.threads}", "--tensorflow_inter_op_parallelism=1"]

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
        return cls(**known_fields(cls, d))
