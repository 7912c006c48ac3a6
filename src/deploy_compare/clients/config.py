"""Typed settings of the load client: how to send (LoadConfig, SloConfig). Where to send is
the one Endpoint (clients/endpoint.py), re-exported here for the client's callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..defaults import default
from ..errors import ConfigError
from .endpoint import Endpoint

__all__ = ["ARRIVALS", "Endpoint", "LoadConfig", "SloConfig"]

ARRIVALS = ("poisson", "constant")


@dataclass(frozen=True)
class LoadConfig:
    """One load run. A run lasts until BOTH warmup_s + duration_s have passed AND
    min_requests were issued after the warm-up, but never longer than max_duration_s."""

    # default.toml [load] (defaults.py): `load` starts where `run` does
    duration_s: float = default("load", "duration_s")  # measured window, after warm-up
    min_requests: int = default("load", "min_requests")  # requests issued after warm-up (open loop: scheduled)
    warmup_s: float = default("load", "warmup_s")  # excluded from every statistic
    timeout_s: float = default("load", "timeout_s")  # per request
    max_duration_s: float = 120.0  # hard stop; a run cut short says min_requests_met=False
    concurrency: int = 1  # closed loop: workers, one keep-alive connection each
    rate_rps: float | None = None  # open loop: mean arrival rate
    arrival: str = "poisson"  # open loop: poisson | constant
    seed: int = 0  # open loop: arrival times are reproducible
    max_in_flight: int = 64  # open loop: connections; arrivals beyond are DROPPED, not delayed
    # Check top-1 of 1 in sample_every good responses (k <= 20). Bodies are parsed after the
    # run, never inside the timed loop, so the default checks them all at no timing cost.
    sample_every: int = 1
    # A send this much after its scheduled time counts as late: above asyncio's ~1 ms timer
    # granularity and CPython's 5 ms GIL switch interval (a busy thread elsewhere in the
    # process can hold the loop that long), small next to any latency bound worth testing.
    late_threshold_ms: float = 5.0
    max_late_share: float = 0.05  # above this share of late sends, the client was the bottleneck
    max_client_cpu_share: float = 0.85  # above this busy share of the client's loop thread, too
    preflight: bool = True  # one request before the run: fail fast if nothing answers

    def __post_init__(self) -> None:
        def positive(name: str, value: float) -> None:
            if not value > 0:
                raise ConfigError(f"LoadConfig.{name} must be > 0, got {value!r}")

        positive("duration_s", self.duration_s)
        positive("timeout_s", self.timeout_s)
        positive("max_duration_s", self.max_duration_s)
        positive("late_threshold_ms", self.late_threshold_ms)
        if self.warmup_s < 0:
            raise ConfigError(f"LoadConfig.warmup_s must be >= 0, got {self.warmup_s!r}")
        if self.max_duration_s < self.warmup_s + self.duration_s:
            raise ConfigError(
                f"LoadConfig.max_duration_s ({self.max_duration_s}) must be >= warmup_s + duration_s "
                f"({self.warmup_s + self.duration_s})"
            )
        if not isinstance(self.min_requests, int) or self.min_requests < 1:
            raise ConfigError(f"LoadConfig.min_requests must be an integer >= 1, got {self.min_requests!r}")
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError(f"LoadConfig.concurrency must be an integer >= 1, got {self.concurrency!r}")
        if self.rate_rps is not None and not self.rate_rps > 0:
            raise ConfigError(f"LoadConfig.rate_rps must be > 0 (requests/s) or None, got {self.rate_rps!r}")
        if self.arrival not in ARRIVALS:
            raise ConfigError(f"LoadConfig.arrival must be one of {ARRIVALS}, got {self.arrival!r}")
        if not isinstance(self.max_in_flight, int) or self.max_in_flight < 1:
            raise ConfigError(f"LoadConfig.max_in_flight must be an integer >= 1, got {self.max_in_flight!r}")
        if not isinstance(self.sample_every, int) or not 1 <= self.sample_every <= 20:
            raise ConfigError(f"LoadConfig.sample_every must be an integer in 1..20, got {self.sample_every!r}")
        if not 0 <= self.max_late_share <= 1:
            raise ConfigError(f"LoadConfig.max_late_share must be in [0, 1], got {self.max_late_share!r}")
        if not 0 < self.max_client_cpu_share <= 1:
            raise ConfigError(f"LoadConfig.max_client_cpu_share must be in (0, 1], got {self.max_client_cpu_share!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SloConfig:
    """Bounded search for the highest open-loop rate whose p99 stays under p99_bound_ms.

    A rate passes when the p99 over ALL scheduled requests (errors and drops count as
    infinitely slow) is <= p99_bound_ms and the client was not the bottleneck.
    """

    p99_bound_ms: float = default("slo", "p99_bound_ms")
    start_rate_rps: float = default("slo", "start_rate_rps")
    # given the concurrency-1 run just before (slo.py): start at half its throughput instead
    start_from_single: bool = default("slo", "start_from_single")
    min_rate_rps: float = 1.0
    max_rate_rps: float = 20000.0
    max_trials: int = default("slo", "max_trials")  # total open-loop runs, bracketing + bisection
    rel_tolerance: float = 0.05  # stop bisecting when (fail - pass) / pass <= this
    # Between trials: wait this long, then the server's health URL must answer 200 (retried up
    # to the request timeout), so requests still queued from the last trial cannot spill into the next.
    pause_s: float = 1.0
    # Run the reported rate once more (another arrival seed); a rate that fails its confirmation
    # becomes the failing end and the next lower passing rate is confirmed instead (at most
    # `confirm_trials` extra trials, outside max_trials).
    confirm_trials: int = 2

    def __post_init__(self) -> None:
        for name in ("p99_bound_ms", "start_rate_rps", "min_rate_rps", "max_rate_rps", "rel_tolerance"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"SloConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.min_rate_rps <= self.start_rate_rps <= self.max_rate_rps:
            raise ConfigError(
                "SloConfig needs min_rate_rps <= start_rate_rps <= max_rate_rps, got "
                f"{self.min_rate_rps}, {self.start_rate_rps}, {self.max_rate_rps}"
            )
        if not isinstance(self.max_trials, int) or self.max_trials < 2:
            raise ConfigError(f"SloConfig.max_trials must be an integer >= 2, got {self.max_trials!r}")
        if not self.pause_s >= 0:
            raise ConfigError(f"SloConfig.pause_s must be >= 0, got {self.pause_s!r}")
        if not isinstance(self.confirm_trials, int) or self.confirm_trials < 0:
            raise ConfigError(f"SloConfig.confirm_trials must be an integer >= 0, got {self.confirm_trials!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
