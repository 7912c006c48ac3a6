"""Open loop: requests leave on a fixed schedule (constant or Poisson, seeded), whatever
the server does. Latency is done - SCHEDULED, so a stalled server shows in the tail
instead of silently pausing the load (no coordinated omission, as wrk2 and MLPerf
LoadGen). At most max_in_flight requests are outstanding (one connection each); an
arrival finding none free is recorded as DROPPED, never queued and sent late.

An SLO trial (config.sequential) also stops as soon as the sequential rule decides
"p99 <= bound" (TrialStop): the rule is fed requests in SCHEDULED order, each over the
bound once it failed, was dropped, or is still unanswered past the bound.

Only collects raw records (records.py); statistics happen elsewhere.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import httpx
import numpy as np

from ..confidence import SequentialTrial
from ..errors import ConfigError
from .config import LoadConfig
from .connections import (
    WorkerConnection,
    build_requests,
    close_all,
    error_status,
    make_transports,
    transport_error_kind,
)
from .payload import Payloads
from .records import DROPPED, HTTP_STATUS, OK, RawRun
from .window import Progress, RunWindow


def arrival_offsets_ns(config: LoadConfig) -> tuple[list[int], bool]:
    """Send times (ns after the run starts) and whether max_duration_s cut the schedule.

    The schedule covers warm-up + duration_s and at least min_requests arrivals after the
    warm-up. Poisson gaps come from numpy's default_rng(seed): same seed, same schedule.
    """
    if config.rate_rps is None:
        raise ConfigError("LoadConfig.rate_rps is required for an open-loop run")
    if config.sequential:
        return _trial_offsets_ns(config), False
    gap_ns = 1e9 / config.rate_rps
    warmup_ns = config.warmup_s * 1e9
    end_ns = (config.warmup_s + config.duration_s) * 1e9
    cap_ns = config.max_duration_s * 1e9
    rng = np.random.default_rng(config.seed)
    chunk = int((end_ns / gap_ns) * 1.2) + config.min_requests + 16
    t = np.zeros(0)
    while True:
        if config.arrival == "constant":
            more = np.arange(len(t), len(t) + chunk, dtype=np.float64) * gap_ns
        else:
            more = (t[-1] if len(t) else 0.0) + np.cumsum(rng.exponential(gap_ns, size=chunk))
        t = np.concatenate([t, more])
        measured = t[t >= warmup_ns]
        if t[-1] >= cap_ns or (t[-1] >= end_ns and len(measured) >= config.min_requests):
            break
    need_end = end_ns
    if len(measured) >= config.min_requests:
        need_end = max(end_ns, float(measured[config.min_requests - 1]))
    else:
        need_end = math.inf
    cut = need_end > cap_ns
    return t[t <= min(need_end, cap_ns)].astype(np.int64).tolist(), cut


def _trial_offsets_ns(config: LoadConfig) -> list[int]:
    """An SLO trial's schedule: up to max_requests arrivals after the warm-up, within
    max_duration_s (its caps: the sequential rule usually stops it long before)."""
    assert config.rate_rps is not None
    gap_ns, warmup_ns, cap_ns = 1e9 / config.rate_rps, config.warmup_s * 1e9, config.max_duration_s * 1e9
    expected = int(min(cap_ns, warmup_ns + config.max_requests * gap_ns * 1.3) / gap_ns) + 16
    if config.arrival == "constant":
        t = np.arange(expected, dtype=np.float64) * gap_ns
    else:
        t = np.cumsum(np.random.default_rng(config.seed).exponential(gap_ns, size=expected))
    t = t[t <= cap_ns]
    measured = np.nonzero(t >= warmup_ns)[0]
    if measured.size > config.max_requests:
        t = t[: measured[config.max_requests - 1] + 1]
    return t.astype(np.int64).tolist()


class TrialStop:
    """The live sequential decision of an SLO trial: request i (in scheduled order) counts
    once its outcome is known; the rule sees the known prefix, so it decides on exactly the
    requests the analysis replays (statistics.slo_trial_decision)."""

    def __init__(self, config: LoadConfig, offsets: list[int], base_ns: int) -> None:
        assert config.slo_bound_ms is not None
        self.trial = SequentialTrial(config.trial_rule())
        self.bound_ns = int(config.slo_bound_ms * 1e6)
        self.scheduled = [base_ns + o for o in offsets]
        self.over: list[bool | None] = [None] * len(offsets)
        warm = base_ns + int(config.warmup_s * 1e9)
        self.next = next((i for i, t in enumerate(self.scheduled) if t >= warm), len(offsets))

    def completed(self, i: int, over: bool) -> None:
        self.over[i] = over

    def decided(self, now: int) -> bool:
        while self.trial.verdict is None and self.next < len(self.over):
            flag = self.over[self.next]
            if flag is None:
                if now - self.scheduled[self.next] <= self.bound_ns:
                    break  # not answered, and may still be in time
                flag = True  # unanswered past the bound: over, whatever comes back
            self.trial.add(flag)
            self.next += 1
        return self.trial.verdict is not None


async def open_loop(
    payloads: Payloads,
    config: LoadConfig,
    on_progress: Callable[[Progress], None] | None = None,
) -> RawRun:
    offsets, cut = arrival_offsets_ns(config)
    transports = make_transports(config.max_in_flight, payloads)
    requests = build_requests(payloads, config.timeout_s)
    n = len(requests)
    free = list(reversed(transports))  # a stack: the warmest connection is reused first
    run = RawRun(stopped_by_cap=cut)
    append = run.records.append
    clock = time.perf_counter_ns
    pending: set[asyncio.Task[None]] = set()

    window = RunWindow(config, run, on_progress)
    base = run.start_ns
    stop = TrialStop(config, offsets, base) if config.sequential else None

    async def one(transport: WorkerConnection, k: int, i: int, scheduled: int) -> None:
        t0 = clock()
        body: bytes | str
        try:
            status, body = await transport.send(requests[k])
            done = clock()
            kind = OK if 200 <= status < 300 else HTTP_STATUS
        except httpx.TransportError as exc:
            kind, status, body, done = transport_error_kind(exc), error_status(exc), repr(exc), clock()
        finally:
            free.append(transport)
        append((scheduled, t0, done, kind, k, status, body))
        if stop is not None:
            # a 2xx body that later fails to parse is caught by the analysis's replay
            stop.completed(i, kind != OK or done - scheduled > stop.bound_ns)

    async def dispatch() -> None:
        create_task = asyncio.get_running_loop().create_task
        i, total = 0, len(offsets)
        while i < total and not window.stopping:
            now = clock()
            due = base + offsets[i]
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            # Everything due by now leaves now; each keeps its own scheduled time.
            while i < total and base + offsets[i] <= now:
                k = i % n
                if free:
                    task = create_task(one(free.pop(), k, i, base + offsets[i]))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                else:
                    append((base + offsets[i], 0, 0, DROPPED, k, 0, ""))
                    if stop is not None:
                        stop.completed(i, True)
                i += 1
            # Let the sends just created run (and responses be read) before the next batch;
            # without this a dispatcher that is behind schedule would starve them.
            await asyncio.sleep(0)

    try:
        dispatcher = asyncio.create_task(dispatch())
        await window.watch(lambda: len(pending), done=dispatcher.done, decided=None if stop is None else stop.decided)
        await dispatcher
        if pending:
            await asyncio.gather(*list(pending))
        window.finish()
    finally:
        for task in list(pending):
            task.cancel()
        await close_all(transports)
    return run
