"""The run window shared by both loops: warm-up mark, stop rule, client CPU, progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..statistics import latency_summary, precise
from .config import LoadConfig
from .records import OK, RawRun

TICK_S = 0.1
#: how often a closed loop past its minimum checks whether its intervals are narrow enough
PRECISION_CHECK_S = 0.5
_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def runqueue_wait_ns() -> int | None:
    """Time this thread spent runnable but waiting for a CPU (Linux schedstat), else None.

    CPU time alone misses a client starved by OTHER processes on a shared machine: its loop
    is slow to react although its own CPU share looks low.
    """
    try:
        return int(_SCHEDSTAT.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """ "uvloop 0.23.0" or "asyncio" (the loop's own module decides, not what is installed)."""
    module = type(loop).__module__.split(".")[0]
    if module == "uvloop":
        import uvloop

        return f"uvloop {uvloop.__version__}"
    return "asyncio" if module == "asyncio" else f"{module} ({type(loop).__name__})"


@dataclass
class Progress:
    """A live snapshot for displays; counts include the warm-up."""

    elapsed_s: float
    phase: str  # warm-up | measuring | draining
    completed: int  # requests finished, any outcome
    errors: int  # requests finished with an error or dropped
    in_flight: int
    recent_rps: float  # finished requests/s over the last tick


class RunWindow:
    """Marks the measured window on `run` and decides when a closed loop stops.

    A closed loop stops once BOTH duration_s have passed after the warm-up AND min_requests
    have finished after it (the minimum), and, with config.precision set, its p50 and p99
    intervals are narrow enough; max_duration_s and max_requests are the hard caps
    (run.stopped_by_cap is set when the cap came before the minimum). run.stop_reason says
    which rule ended it. An open loop ends when its schedule is sent (`done`) or its
    sequential rule decided (`decided`).
    CPU is the client's event-loop thread only (time.thread_time_ns), so a server running
    in another thread of the same process (tests) is not counted as client work; so is the
    time that thread waited for a CPU (runqueue_wait_ns).
    """

    def __init__(self, config: LoadConfig, run: RawRun, on_progress: Callable[[Progress], None] | None) -> None:
        self.config = config
        self.run = run
        self.on_progress = on_progress
        self.stopping = False
        run.event_loop = loop_name(asyncio.get_running_loop())
        now = time.perf_counter_ns()
        run.start_ns = now
        run.measure_start_ns = now + int(config.warmup_s * 1e9)
        self._measure_end_ns = run.measure_start_ns + int(config.duration_s * 1e9)
        self._cap_ns = now + int(config.max_duration_s * 1e9)
        self._cpu_start = 0
        self._wait_start: int | None = None
        self._scanned = 0
        self._measured = 0
        self._errors = 0
        self._next_check_ns = 0

    def _closed_stop(self, now: int) -> str:
        """Why a closed loop stops now ("" = go on)."""
        config = self.config
        if self._measured >= config.max_requests:
            return "max requests"
        if now < self._measure_end_ns or self._measured < config.min_requests:
            return ""
        if config.precision is None:
            return "duration"
        if now < self._next_check_ns:
            return ""
        self._next_check_ns = now + int(PRECISION_CHECK_S * 1e9)
        measured = [r for r in self.run.records if r[0] >= self.run.measure_start_ns and r[3] == OK]
        latencies = np.array([r[2] - r[0] for r in measured], dtype=np.int64)
        return "precise" if precise(latency_summary(latencies), config.precision) else ""

    async def watch(
        self,
        in_flight: Callable[[], int],
        done: Callable[[], bool] | None = None,
        decided: Callable[[int], bool] | None = None,
    ) -> None:
        """Tick until the stop rule holds (closed loop), or `done()` / `decided(now)` (open loop)."""
        run = self.run
        cpu_marked = False
        last_count, last_ns = 0, run.start_ns
        while True:
            now = time.perf_counter_ns()
            if not cpu_marked and now >= run.measure_start_ns:
                self._cpu_start = time.thread_time_ns()
                self._wait_start = runqueue_wait_ns()
                cpu_marked = True
            self._scan()
            if self.on_progress is not None:
                count = len(run.records)
                rps = (count - last_count) / max((now - last_ns) / 1e9, 1e-9)
                last_count, last_ns = count, now
                phase = "warm-up" if now < run.measure_start_ns else "measuring"
                self.on_progress(Progress((now - run.start_ns) / 1e9, phase, count, self._errors, in_flight(), rps))
            if decided is not None and decided(now):
                run.stop_reason = "decided"
                break
            if done is not None:
                if done():
                    run.stop_reason = run.stop_reason or "schedule"
                    break
            else:
                run.stop_reason = self._closed_stop(now)
                if run.stop_reason:
                    break
            if now >= self._cap_ns:
                # a closed loop past its minimum that was still narrowing its intervals is not cut short
                cut = done is not None or self._measured < self.config.min_requests
                run.stopped_by_cap = run.stopped_by_cap or cut
                run.stop_reason = "max duration"
                break
            wake = run.measure_start_ns if not cpu_marked else now + int(TICK_S * 1e9)
            await asyncio.sleep(max(min(wake - now, TICK_S * 1e9), 0) / 1e9)
        self.stopping = True
        run.stop_ns = time.perf_counter_ns()
        if not cpu_marked:  # stopped during warm-up (cap shorter than warm-up cannot happen)
            self._cpu_start = time.thread_time_ns()
            self._wait_start = runqueue_wait_ns()
        run.cpu_measure_ns = time.thread_time_ns() - self._cpu_start
        wait_end = runqueue_wait_ns()
        if self._wait_start is not None and wait_end is not None:
            run.wait_measure_ns = wait_end - self._wait_start

    def _scan(self) -> None:
        records, start = self.run.records, self.run.measure_start_ns
        for i in range(self._scanned, len(records)):
            rec = records[i]
            if rec[3] != OK:
                self._errors += 1
            if rec[0] >= start:
                self._measured += 1
        self._scanned = len(records)

    def finish(self) -> None:
        """All in-flight requests are done."""
        self.run.end_ns = time.perf_counter_ns()
        if self.on_progress is not None:
            self._scan()
            now = self.run.end_ns
            self.on_progress(
                Progress((now - self.run.start_ns) / 1e9, "draining", len(self.run.records), self._errors, 0, 0.0)
            )
