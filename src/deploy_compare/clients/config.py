"""Typed settings of the load client: how to send (LoadConfig, SloConfig). Where to send is
the one Endpoint (clients/endpoint.py), re-exported here for the client's callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..confidence import SequentialBound
from ..defaults import default
from ..errors import ConfigError
from .endpoint import Endpoint
from .results import bound_claim

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
    # hard stop; a run cut short says min_requests_met=False. 0: with `precision`, twice the
    # minimum (warm-up + duration_s), at least 8 s: a closed loop narrowing its intervals runs
    # to here at most; without, three times it, at least 120 s (a slow open loop's min_requests)
    max_duration_s: float = 0.0
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
    # Stop when the answer is known (issue 23). Closed loop: once duration_s and min_requests
    # are reached, go on until the p50 and p99 95% intervals are each at most `precision`
    # of their estimate wide (None: stop there, the old fixed rule), within max_duration_s
    # and max_requests. Open loop with `sequential`: an SLO trial, stopped as soon as the
    # sequential rule (confidence.SequentialBound at slo_confidence, capped at max_requests)
    # decides "p99 <= slo_bound_ms"; duration_s and min_requests do not apply, max_duration_s
    # and max_requests are its caps.
    precision: float | None = default("load", "precision")
    max_requests: int = default("load", "max_requests")
    slo_bound_ms: float | None = None  # the latency bound: goodput and the sequential rule
    slo_confidence: float = 0.99
    sequential: bool = False

    def __post_init__(self) -> None:
        def positive(name: str, value: float) -> None:
            if not value > 0:
                raise ConfigError(f"LoadConfig.{name} must be > 0, got {value!r}")

        positive("duration_s", self.duration_s)
        if self.max_duration_s == 0:
            minimum = self.warmup_s + self.duration_s
            cap = max(2 * minimum, 8.0) if self.precision is not None else max(3 * minimum, 120.0)
            object.__setattr__(self, "max_duration_s", cap)
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
        if self.precision is not None and not 0 < self.precision < 10:
            raise ConfigError(
                f"LoadConfig.precision must be in (0, 10) (a relative width) or None, got {self.precision!r}"
            )
        if not isinstance(self.max_requests, int) or self.max_requests < self.min_requests:
            raise ConfigError(
                f"LoadConfig.max_requests must be an integer >= min_requests ({self.min_requests}), "
                f"got {self.max_requests!r}"
            )
        if self.slo_bound_ms is not None and not self.slo_bound_ms > 0:
            raise ConfigError(f"LoadConfig.slo_bound_ms must be > 0 or None, got {self.slo_bound_ms!r}")
        if not 0.5 <= self.slo_confidence < 1:
            raise ConfigError(f"LoadConfig.slo_confidence must be in [0.5, 1), got {self.slo_confidence!r}")
        if self.sequential and (self.rate_rps is None or self.slo_bound_ms is None):
            raise ConfigError("LoadConfig.sequential needs an open loop (rate_rps) and slo_bound_ms")
        if not 0 < self.max_client_cpu_share <= 1:
            raise ConfigError(f"LoadConfig.max_client_cpu_share must be in (0, 1], got {self.max_client_cpu_share!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def trial_rule(self) -> SequentialBound:
        """The sequential rule an SLO trial stops by (sequential=True)."""
        return SequentialBound(percentile=0.99, confidence=self.slo_confidence, cap=self.max_requests)


@dataclass(frozen=True)
class SloConfig:
    """Bounded search for the highest open-loop rate whose p99 stays under p99_bound_ms.

    A rate passes when the sequential rule shows "p99 <= p99_bound_ms" at `confidence` over
    the scheduled requests in order (errors and drops count as over the bound), within
    max_requests and the trial's duration, and the client was not the bottleneck.
    """

    p99_bound_ms: float = default("slo", "p99_bound_ms")
    confidence: float = default("slo", "confidence")  # of "p99 <= bound" (LoadGen's early-stopping rule)
    max_requests: int = default("slo", "max_requests")  # a trial's request cap (the rule fails it there)
    start_rate_rps: float = default("slo", "start_rate_rps")
    # given the concurrency-1 run just before (slo.py): start at half its throughput instead
    start_from_single: bool = default("slo", "start_from_single")
    min_rate_rps: float = 1.0
    max_rate_rps: float = 20000.0
    max_trials: int = default("slo", "max_trials")  # total open-loop runs, bracketing + bisection
    # A trial at a rate too low to decide within its duration_s runs on until a clean pass could
    # have decided, up to this: a model slower than ~66 req/s a core still gets its SLO rate.
    max_duration_s: float = default("slo", "max_duration_s")
    rel_tolerance: float = 0.05  # stop bisecting when (fail - pass) / pass <= this
    # Between trials: wait this long, then the server's health URL must answer 200 (retried up
    # to the request timeout), so requests still queued from the last trial cannot spill into the next.
    pause_s: float = default("slo", "pause_s")
    # Run the reported rate once more (another arrival seed); a rate that fails its confirmation
    # becomes the failing end and the next lower passing rate is confirmed instead (at most
    # `confirm_trials` extra trials, outside max_trials).
    confirm_trials: int = default("slo", "confirm_trials")

    def __post_init__(self) -> None:
        for name in (
            "p99_bound_ms",
            "start_rate_rps",
            "min_rate_rps",
            "max_rate_rps",
            "rel_tolerance",
            "max_duration_s",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"SloConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.min_rate_rps <= self.start_rate_rps <= self.max_rate_rps:
            raise ConfigError(
                "SloConfig needs min_rate_rps <= start_rate_rps <= max_rate_rps, got "
                f"{self.min_rate_rps}, {self.start_rate_rps}, {self.max_rate_rps}"
            )
        if not isinstance(self.max_trials, int) or self.max_trials < 2:
            raise ConfigError(f"SloConfig.max_trials must be an integer >= 2, got {self.max_trials!r}")
        if not isinstance(self.confidence, float) or not 0.5 <= self.confidence < 1:
            raise ConfigError(f"SloConfig.confidence must be a number in [0.5, 1), got {self.confidence!r}")
        if not isinstance(self.max_requests, int) or self.max_requests < 1:
            raise ConfigError(f"SloConfig.max_requests must be an integer >= 1, got {self.max_requests!r}")
        if SequentialBound(confidence=self.confidence, cap=self.max_requests).max_over < 0:
            raise ConfigError(
                f"SloConfig.max_requests={self.max_requests} is too few for any trial to pass at "
                f"confidence {self.confidence:g}: at least {SequentialBound(confidence=self.confidence).threshold(0)}"
            )
        if not self.pause_s >= 0:
            raise ConfigError(f"SloConfig.pause_s must be >= 0, got {self.pause_s!r}")
        if not isinstance(self.confirm_trials, int) or self.confirm_trials < 0:
            raise ConfigError(f"SloConfig.confirm_trials must be an integer >= 0, got {self.confirm_trials!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return bound_claim(self.p99_bound_ms, self.confidence)
