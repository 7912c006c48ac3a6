"""The measurement scenario: encodings x request batch sizes x concurrency levels x SLO search,
against any endpoint. It knows nothing of launchers, result files or terminals.

LoadGen's `StartTest(sut, qsl, settings)` and locust's event hooks are the models: `Scenario`
takes the endpoints (one per encoding), a payload source and `ScenarioSettings`, and fires
events as it goes; progress lines, saving partial results, health checks between runs and
the server monitor are listeners (deploy/listeners.py, deploy/record.py, commands/load.py).

The plan, in order:
1. each encoding the endpoint cannot speak: `encoding_skipped`;
2. the first encoding, at each request batch size: its closed-loop levels (`levels` for the
   first size, `batch_levels` for the others), then an SLO search (`search`) or one open-loop
   run at `rate_rps`. A further size that fails (LoadError, ProtocolError: e.g. a body over the
   server's limit) fires `batch_failed` and the others still run; the first size's failure
   propagates (nothing measured is comparable without it);
3. every further encoding: `other_levels` at the first batch size (`encoding_failed` on error).
   With slo_encoding "best", every encoding's `other_levels` sweep runs first and the one with
   the highest throughput (`encoding_chosen`) then gets step 2.

A listener that raises (a health check finding the server dead, Ctrl-C) stops the scenario.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..clients.endpoint import Endpoint
from ..errors import ConfigError, LoadError, ProtocolError

if TYPE_CHECKING:
    from ..clients.config import LoadConfig, SloConfig
    from ..clients.payload import Payloads
    from ..clients.results import LoadResult, SloResult

# Every event the scenario fires, with its keyword arguments (`at` is an At).
EVENTS: dict[str, str] = {
    "encoding_skipped": "encoding, reason: the endpoint does not speak it (before any request)",
    "encoding_started": "at (its first batch size), endpoint",
    "encoding_failed": "at, error: a further encoding failed; the others stand",
    "encoding_chosen": "encoding, peaks: slo_encoding 'best' picked it (encoding -> peak req/s)",
    "batch_started": "at, payloads: this batch size's request bodies are built",
    "batch_failed": "at, error: a further batch size failed (LoadError, ProtocolError)",
    "level_started": "at, concurrency",
    "level_finished": "at, result: one closed-loop level's LoadResult",
    "rate_finished": "at, result: the one open-loop run at rate_rps",
    "search_started": "at, start_rate_rps, origin (None: the settings' own start), seeded",
    "trial_finished": "at, trial: one SLO trial (clients.results.SloTrial)",
    "search_finished": "at, slo, start_rate_rps, origin: the SLO search's SloResult",
    "run_started": "at, what ('c=4', 'SLO', '100/s'), config: one load run begins",
    "measuring_started": "delay_s: the run's warm-up ends in delay_s (0: now)",
    "run_progress": "at, what, snapshot: the load client's live snapshot",
    "run_finished": "result: one load run's LoadResult (a level, a trial or a rate)",
    "run_failed": "error: a load run raised",
}


class Events:
    """Named hooks, as locust's `events`: listeners run in the order added."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., None]]] = defaultdict(list)

    def on(self, name: str, listener: Callable[..., None]) -> None:
        if name not in EVENTS:
            raise ConfigError(f"no scenario event {name!r}; events: {', '.join(EVENTS)}")
        self._listeners[name].append(listener)

    def add(self, listener: object) -> Events:
        """Each method of `listener` named after an event listens to it."""
        for name in EVENTS:
            method = getattr(listener, name, None)
            if method is not None:
                self.on(name, method)
        return self

    def fire(self, name: str, **kwargs: Any) -> None:
        for listener in self._listeners[name]:
            listener(**kwargs)


@dataclasses.dataclass(frozen=True)
class At:
    """Where in the plan an event happens: which encoding, which request batch size."""

    encoding: str
    batch_size: int
    encoding_index: int = 0  # 0: the first encoding (levels, searches); others: levels only
    batch_index: int = 0  # 0: the first batch size

    @property
    def main(self) -> bool:
        """The first encoding at the first batch size: the headline sweep and search."""
        return self.encoding_index == 0 and self.batch_index == 0


@dataclasses.dataclass(frozen=True)
class EncodingPlan:
    """One encoding for one endpoint: the endpoint speaking it, or why not."""

    encoding: str
    endpoint: Endpoint | None
    reason: str | None

    @property
    def ready(self) -> Endpoint:
        assert self.endpoint is not None, f"{self.encoding}: {self.reason}"
        return self.endpoint

    def cell(self, status: str, reason: str | None) -> dict:
        protocol = getattr(self.endpoint, "encoding", None)
        return {"encoding": self.encoding, "status": status, "reason": reason, "protocol": protocol, "sweep": []}


@dataclasses.dataclass(frozen=True)
class ScenarioSettings:
    """What the scenario measures ([load], [slo] and the command's flags map onto these)."""

    closed: LoadConfig
    open_loop: LoadConfig
    slo: SloConfig
    batch_sizes: Sequence[int] = (1,)
    levels: Sequence[int] = ()  # the first batch size's closed-loop levels
    batch_levels: Sequence[int] = ()  # each further batch size's
    other_levels: Sequence[int] = ()  # each further encoding's, at the first batch size
    search: bool = True  # an SLO search per batch size (the first encoding)
    rate_rps: float | None = None  # instead of a search: one open-loop run at this rate
    #: which encoding gets the levels, the SLO search and the batch sizes: "first" (the plans'
    #: order), an encoding's name, or "best" (each encoding's `other_levels` sweep first, then
    #: the one with the highest closed-loop throughput; [load] slo_encoding)
    slo_encoding: str = "first"


@dataclasses.dataclass(frozen=True)
class Runs:
    """How load runs: run_closed_loop / run_open_loop (or a ClientPool's), the SLO search."""

    closed: Callable[..., LoadResult]
    open: Callable[..., LoadResult]
    search: Callable[..., SloResult] | None = None  # None: clients.find_max_rate_under_slo


def observe(run: Callable[..., LoadResult], events: Events, at: At | None, what: str) -> Callable[..., LoadResult]:
    """`run` (run_closed_loop's signature) firing run_started, measuring_started (once, when
    the loop reports the end of its warm-up), run_progress, run_finished / run_failed."""

    def observed(endpoint: Any, payloads: Any, config: Any, on_progress: Callable[[Any], None] | None = None):
        began = False

        def progress(p: Any) -> None:
            nonlocal began
            if not began and p.phase != "warm-up":
                began = True
                # Client actors (distributed.py) report only their start: the warm-up is still to come.
                delay = 0.0 if p.phase in ("measuring", "draining") else config.warmup_s
                events.fire("measuring_started", delay_s=delay)
            events.fire("run_progress", at=at, what=what, snapshot=p)
            if on_progress is not None:
                on_progress(p)

        events.fire("run_started", at=at, what=what, config=config)
        try:
            result = run(endpoint, payloads, config, progress)
        except BaseException as exc:
            events.fire("run_failed", error=exc)
            raise
        events.fire("run_finished", result=result)
        return result

    return observed


class Scenario:
    """One scenario against endpoints that are already up (`run` fires the events)."""

    def __init__(
        self,
        plans: Sequence[EncodingPlan],
        payloads: Callable[[Endpoint, int], Payloads],
        settings: ScenarioSettings,
        runs: Runs,
        events: Events,
        name: str = "the endpoint",
    ) -> None:
        self.plans, self.payloads, self.settings = list(plans), payloads, settings
        self.runs, self.events, self.name = runs, events, name

    def run(self) -> None:
        for plan in self.plans:
            if plan.reason is not None:
                self.events.fire("encoding_skipped", encoding=plan.encoding, reason=plan.reason)
        ready = [p for p in self.plans if p.reason is None]
        if not ready:
            raise ConfigError(f"{self.name} speaks none of the encodings {[p.encoding for p in self.plans]}")
        choice = self.settings.slo_encoding
        if choice == "best" and len(ready) > 1:
            peaks = {plan.encoding: self._other_encoding(plan, index) for index, plan in enumerate(ready, 1)}
            best = max(ready, key=lambda plan: peaks[plan.encoding])
            self.events.fire("encoding_chosen", encoding=best.encoding, peaks=peaks)
            self._first_encoding(best)
            return
        ready.sort(key=lambda plan: plan.encoding != choice)  # a named encoding first; stable otherwise
        self._first_encoding(ready[0])
        for index, plan in enumerate(ready[1:], 1):
            self._other_encoding(plan, index)

    def _first_encoding(self, plan: EncodingPlan) -> None:
        s = self.settings
        first = At(plan.encoding, s.batch_sizes[0])
        self.events.fire("encoding_started", at=first, endpoint=plan.ready)
        first_rate = self._batch(first, plan.ready, s.levels, None)  # its failure fails the scenario
        for index, batch_size in enumerate(s.batch_sizes[1:], 1):
            at = At(plan.encoding, batch_size, 0, index)
            try:
                self._batch(at, plan.ready, s.batch_levels, first_rate)
            except (LoadError, ProtocolError) as exc:  # this size failed; the others stand
                self.events.fire("batch_failed", at=at, error=exc)

    def _other_encoding(self, plan: EncodingPlan, index: int) -> float:
        """Its levels at the first batch size; the highest throughput seen (0: it failed)."""
        at = At(plan.encoding, self.settings.batch_sizes[0], index)
        self.events.fire("encoding_started", at=at, endpoint=plan.ready)
        peak = 0.0
        try:  # the first encoding's batch size: comparable
            payloads = self.payloads(plan.ready, at.batch_size)
            self.events.fire("batch_started", at=at, payloads=payloads)
            for level in self.settings.other_levels:
                peak = max(peak, self._level(at, plan.ready, payloads, level).throughput_rps)
        except (LoadError, ProtocolError) as exc:
            self.events.fire("encoding_failed", at=at, error=exc)
            return 0.0
        return peak

    def _batch(self, at: At, endpoint: Endpoint, levels: Sequence[int], first_rate: float | None) -> float | None:
        """Levels, then the search (or the rate) at one batch size; the search's rate."""
        payloads = self.payloads(endpoint, at.batch_size)
        self.events.fire("batch_started", at=at, payloads=payloads)
        results = [self._level(at, endpoint, payloads, level) for level in levels]
        if self.settings.rate_rps is not None:
            # the open loop's own cap, worked out again: the closed loop's precision cap would cut it short
            config = dataclasses.replace(
                self.settings.closed, rate_rps=self.settings.rate_rps, precision=None, max_duration_s=0.0
            )
            what = f"{self.settings.rate_rps:g}/s"
            result = observe(self.runs.open, self.events, at, what)(endpoint, payloads, config)
            self.events.fire("rate_finished", at=at, result=result)
        if not self.settings.search:
            return None
        single = next((r for r in results if r.concurrency == 1), None)
        return self._search(at, endpoint, payloads, results, single, first_rate)

    def _level(self, at: At, endpoint: Endpoint, payloads: Payloads, level: int) -> LoadResult:
        self.events.fire("level_started", at=at, concurrency=level)
        config = dataclasses.replace(self.settings.closed, concurrency=level)
        result = observe(self.runs.closed, self.events, at, f"c={level}")(endpoint, payloads, config)
        self.events.fire("level_finished", at=at, result=result)
        return result

    def _search(
        self,
        at: At,
        endpoint: Endpoint,
        payloads: Payloads,
        results: list[LoadResult],
        single: LoadResult | None,
        first_rate: float | None,
    ) -> float | None:
        """The SLO search; a further batch size starts from what this scenario measured
        already (batch_start_rate), unless its concurrency-1 run seeds it (clients/slo.py)."""
        from ..clients import find_max_rate_under_slo

        s = self.settings
        slo_cfg, start, origin = s.slo, None, None
        if at.batch_index > 0:
            closed = [r.throughput_rps for r in results if isinstance(r.throughput_rps, (int, float))]
            start, origin = batch_start_rate(
                s.slo, s.open_loop, at.batch_size, s.batch_sizes[0], first_rate, max(closed) if closed else None
            )
            slo_cfg = dataclasses.replace(s.slo, start_rate_rps=start)
        self.events.fire("search_started", at=at, start_rate_rps=start, origin=origin, seeded=single is not None)
        search = self.runs.search or find_max_rate_under_slo
        slo = search(
            endpoint,
            payloads,
            s.open_loop,
            slo_cfg,
            on_trial=lambda t: self.events.fire("trial_finished", at=at, trial=t),
            run=observe(self.runs.open, self.events, at, "SLO"),
            single=single,
        )
        first = slo.trials[0].rate_rps if slo.trials else None
        if origin is not None and first is not None and first != start:  # the concurrency-1 run set it
            origin = f"half of batch {at.batch_size}'s concurrency-1 throughput ([slo] start_from_single)"
        self.events.fire("search_finished", at=at, slo=slo, start_rate_rps=first, origin=origin)
        return slo.max_rate_rps


def batch_start_rate(
    slo: SloConfig,
    trial: LoadConfig,
    batch_size: int,
    first_batch: int,
    first_rate_rps: float | None,
    closed_loop_rps: float | None,
) -> tuple[float, str]:
    """Where the SLO search at `batch_size` samples per request starts (req/s), from what this
    launch measured already, and a few words saying from what.

    [slo] start_rate_rps suits the first batch size. A request of 32 samples costs the server
    about 32 single samples (server batching makes it cheaper, a whole batch inside the p99
    bound dearer), so starting there would spend the bracket's first trials far above the
    sustainable rate, each one costing up to its duration_s cap. So:
    1. the first batch size's SLO rate (this launch's search; `slo`'s start_rate_rps when it
       found none) x first_batch / batch_size: the samples/s it sustained, in requests;
    2. at most this size's best closed-loop req/s where [load] batch_concurrency measured it
       (an open loop does not sustain more than the closed loop served);
    3. at least the lowest rate whose trial can pass within its cap (clients.slo.search_floor:
       below it every trial ends undecided) and min_rate_rps;
       at most max_rate_rps.
    From there the search brackets (doubling or halving), bisects and confirms as it always does.
    """
    from ..clients.slo import search_floor

    scale = first_batch / batch_size
    if first_rate_rps is not None and first_rate_rps > 0:
        rate, origin = first_rate_rps * scale, f"batch {first_batch}'s SLO rate {first_rate_rps:g} req/s"
    else:
        rate = slo.start_rate_rps * scale
        origin = f"batch {first_batch} met no rate: [slo] start_rate_rps {slo.start_rate_rps:g}"
    origin += f" x {first_batch}/{batch_size}"
    if closed_loop_rps is not None and 0 < closed_loop_rps < rate:
        rate, origin = (
            closed_loop_rps,
            f"{origin}, capped at batch {batch_size}'s closed-loop {closed_loop_rps:.3g} req/s",
        )
    floor, why = search_floor(trial, slo)
    if rate < floor:
        rate, origin = floor, f"{origin}, raised to {floor:.3g} req/s ({why})"
    rate = min(max(round(rate, 2), floor), slo.max_rate_rps)
    return rate, origin
