"""How the FastAPI baseline runs: uvicorn workers and runtime threads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...defaults import default
from ..config import check_model_name, positive_float, positive_int

#: environment variable naming the JSON file app.py loads (written by launcher.py)
SPEC_ENV = "DC_SERVICE_SPEC"


@dataclass
class FastAPIServiceConfig:
    """workers   uvicorn worker processes, each with its own copy of the model.
    threads      intra-op threads of the runtime per worker (None: the runtime's default);
                 the pipeline sets it to the server's core count when it pins cores.
    (The edge-service path's single core is its Stack.max_server_cores = 1, which `run` and
    `serve` both apply; its config below fixes one worker and one thread.)
    """

    workers: int = default("fastapi_onnx", "workers")
    threads: int | None = None
    start_timeout_s: float = 60.0
    model_name: str | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        positive_int(owner, "workers", self.workers)
        if self.threads is not None:
            positive_int(owner, "threads", self.threads)
        positive_float(owner, "start_timeout_s", self.start_timeout_s)
        check_model_name(owner, self.model_name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EdgeServiceConfig(FastAPIServiceConfig):
    """The same app on a quantized .tflite through LiteRT: one worker, one thread, one core."""

    threads: int | None = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        from ...errors import ConfigError

        if (self.workers, self.threads) != (1, 1):
            raise ConfigError(
                "EdgeServiceConfig is one worker, one thread, one core (workers=1, threads=1; the core: "
                f"its stack's max_server_cores), got workers={self.workers}, threads={self.threads}"
            )
