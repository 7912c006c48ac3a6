"""What the local benchmark runs: profiles, thread settings, measurement settings, limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..defaults import default
from ..errors import ConfigError
from ..machine import usable_cores
from .procedure import MeasureSettings
from .result import PROFILES


def default_server_threads() -> tuple[int, ...]:
    """1 thread and every core this process may use (deduplicated): the two ends of the scale."""
    return tuple(sorted({1, len(usable_cores())}))


@dataclass(frozen=True)
class BenchConfig:
    """profiles: "server" (threads as given, not pinned) and/or "edge" (each thread setting
    pinned to that many cores, modelling a phone/Raspberry-Pi-class CPU)."""

    # default.toml [local] (defaults.py)
    profiles: tuple[str, ...] = tuple(default("local", "profiles"))
    server_threads: tuple[int, ...] = field(default_factory=default_server_threads)
    edge_threads: tuple[int, ...] = tuple(default("local", "edge_threads"))
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    worker_timeout_s: float = 600.0  # one (artifact, profile, threads) subprocess

    def __post_init__(self) -> None:
        if not self.profiles or any(p not in PROFILES for p in self.profiles):
            raise ConfigError(f"BenchConfig.profiles must be a non-empty subset of {PROFILES}, got {self.profiles}")
        for name in ("server_threads", "edge_threads"):
            value = getattr(self, name)
            if not value or any(not isinstance(t, int) or t < 1 for t in value):
                raise ConfigError(f"BenchConfig.{name} must be a non-empty list of integers >= 1, got {value}")
        if self.worker_timeout_s <= 0:
            raise ConfigError(f"BenchConfig.worker_timeout_s must be > 0, got {self.worker_timeout_s}")

    def threads_for(self, profile: str) -> tuple[int, ...]:
        return self.server_threads if profile == "server" else self.edge_threads


@dataclass(frozen=True)
class BenchJob:
    """One measurement, run in its own process."""

    artifact: str
    profile: str
    threads: int

    @property
    def pin(self) -> bool:
        return self.profile == "edge"

    @property
    def label(self) -> str:
        return f"{self.artifact}/{self.profile}/t{self.threads}"
