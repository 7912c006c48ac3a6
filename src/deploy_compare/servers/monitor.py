"""The server's own view of a measured run: CPU seconds, peak memory, and its time split.

One interface, two implementations (like the launchers):
  NativeMonitor  psutil over the server's whole process tree (TorchServe: wrapper, Java,
                 Python workers; uvicorn: supervisor and workers; Triton: server and stubs)
  DockerMonitor  the engine's stats API for the container (cgroup CPU and memory)
`begin()` just before a measured run, `end()` just after: the CPU used in between, the
highest resident memory seen by a sampler thread, and (where the stack declares a metrics
scraper, servers/metrics.py) the mean queue and compute time per request.

MemoryGuard is the same sampling with a limit: a native server whose process tree goes
above `memory_limit_mib` is killed, as the kernel's OOM killer would kill a container at
its cgroup limit, and the launcher reports that as the reason (a FAILED row, not a hang:
TorchServe's frontend would otherwise restart a killed worker forever).

The sampler threads run in the load client's process; they wake every SAMPLE_S and read a
few /proc files, a small cost beside the loop (the client's own CPU check still sees it).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from .metrics import Counters, MetricsSource

MIB = 1024 * 1024
SAMPLE_S = 0.25  # the peak RSS is the highest of these samples
GUARD_SAMPLE_S = 0.1


@dataclass
class ServerUsage:
    """What the server spent on one measured run (whole process tree or container)."""

    source: str  # "psutil process tree" | "docker stats API"
    window_s: float  # begin() -> end()
    cpu_s: float  # CPU seconds (user + system) of the server in the window
    cores_busy: float  # cpu_s / window_s: how many cores the server kept busy
    peak_rss_mib: float | None  # highest resident memory sampled in the window
    samples: int  # memory samples taken
    processes: int | None = None  # native: processes in the tree at the end
    cpu_ms_per_request: float | None = None  # cpu_s / the requests the client completed
    split: dict[str, Any] | None = None  # metrics.ServerSplit.to_dict(): mean queue / compute per request
    split_note: str | None = None  # why there is no split (the stack exposes none, a scrape failed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ServerMonitor(ABC):
    """Sample a running server around one measured run."""

    source = ""

    def __init__(self, metrics: MetricsSource | None = None, metrics_note: str | None = None) -> None:
        self.metrics = metrics
        self.metrics_note = metrics_note
        self._began = 0.0
        self._counters: Counters | None = None
        self._scrape_error: str | None = None
        self._peak = 0.0
        self._samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def begun(self) -> bool:
        return self._began > 0

    def begin(self) -> None:
        self._peak, self._samples, self._scrape_error = 0.0, 0, None
        self._counters = self._scrape()
        self._begin_cpu()
        self._began = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample_loop, name="server-monitor", daemon=True)
        self._thread.start()

    def end(self, completed: int | None = None) -> ServerUsage:
        """Stop sampling; `completed` = the requests the client got answers for (CPU per request)."""
        window = time.monotonic() - self._began
        cpu = self._end_cpu()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._record_memory()
        after = self._scrape()
        usage = ServerUsage(
            source=self.source,
            window_s=round(window, 3),
            cpu_s=round(cpu, 4),
            cores_busy=round(cpu / window, 4) if window > 0 else 0.0,
            peak_rss_mib=round(self._peak / MIB, 2) if self._samples else None,
            samples=self._samples,
            processes=self._process_count(),
            cpu_ms_per_request=round(cpu * 1000.0 / completed, 4) if completed else None,
        )
        if self.metrics is None:
            usage.split_note = self.metrics_note or "the stack exposes no queue/compute metrics"
        elif self._counters is None or after is None:
            usage.split_note = f"metrics scrape failed: {self._scrape_error}"
        else:
            usage.split = self.metrics.split(self._counters, after).to_dict()
        return usage

    def close(self) -> None:
        """Stop the sampler without a usage (the run raised): its thread must not outlive the run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _scrape(self) -> Counters | None:
        if self.metrics is None:
            return None
        try:
            return self.metrics.counters()
        except Exception as exc:  # a record must not fail the run; the note says why it is missing
            self._scrape_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            return None

    def _sample_loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._record_memory()

    def _record_memory(self) -> None:
        try:
            rss = self._memory_bytes()
        except Exception:
            return  # the server went away: the last sample stands
        if rss is not None:
            self._peak = max(self._peak, float(rss))
            self._samples += 1

    def _process_count(self) -> int | None:
        return None

    @abstractmethod
    def _begin_cpu(self) -> None: ...

    @abstractmethod
    def _end_cpu(self) -> float:
        """CPU seconds since _begin_cpu."""

    @abstractmethod
    def _memory_bytes(self) -> float | None: ...


def _tree(root: int) -> list[psutil.Process]:
    from .proctree import tree_of

    return tree_of(root)


def _cpu_of(proc: psutil.Process) -> float:
    """User + system seconds of a process and of its children it has waited for."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


class NativeMonitor(ServerMonitor):
    """psutil over the tree under `root` (processes are matched by pid and start time)."""

    source = "psutil process tree"

    def __init__(self, root: int, metrics: MetricsSource | None = None, metrics_note: str | None = None) -> None:
        super().__init__(metrics, metrics_note)
        self.root = root
        self._start: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self._lock = threading.Lock()
        self._count: int | None = None

    def _read_tree(self) -> tuple[dict[tuple[int, float], float], float]:
        cpu: dict[tuple[int, float], float] = {}
        rss = 0.0
        for proc in _tree(self.root):
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    cpu[key] = _cpu_of(proc)
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
        self._count = len(cpu)
        return cpu, rss

    def _begin_cpu(self) -> None:
        cpu, _ = self._read_tree()
        with self._lock:
            self._start = dict(cpu)
            self._last = dict(cpu)

    def _end_cpu(self) -> float:
        cpu, _ = self._read_tree()
        with self._lock:
            self._last.update(cpu)
            # A process that exited in the window keeps its last sample; one born in it counts from 0.
            return sum(v - self._start.get(k, 0.0) for k, v in self._last.items())

    def _memory_bytes(self) -> float | None:
        cpu, rss = self._read_tree()
        with self._lock:
            self._last.update(cpu)
        return rss if cpu else None

    def _process_count(self) -> int | None:
        return self._count


class DockerMonitor(ServerMonitor):
    """The engine's stats API: cgroup CPU time (ns) and memory usage of the container.

    Memory is `usage` minus the page cache (`inactive_file`), as `docker stats` shows it.
    """

    source = "docker stats API"

    def __init__(self, container: Any, metrics: MetricsSource | None = None, metrics_note: str | None = None) -> None:
        super().__init__(metrics, metrics_note)
        self.container = container
        self._cpu0 = 0

    def _stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.container.stats(stream=False, one_shot=True)
        return stats

    def _cpu_ns(self) -> int:
        return int(self._stats()["cpu_stats"]["cpu_usage"]["total_usage"])

    def _begin_cpu(self) -> None:
        self._cpu0 = self._cpu_ns()

    def _end_cpu(self) -> float:
        return (self._cpu_ns() - self._cpu0) / 1e9

    def _memory_bytes(self) -> float | None:
        return container_memory_bytes(self._stats())


def container_memory_bytes(stats: dict[str, Any]) -> float | None:
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    cache = (memory.get("stats") or {}).get("inactive_file", 0)
    return float(usage - cache)


class MemoryGuard:
    """Kill a native server's whole tree when its resident memory passes `limit_mib`.

    The kill is the OOM killer's: SIGKILL, no grace. `reason` says what happened; the
    launcher raises it as the ServerError of a failed start, the pipeline as the reason of a
    server that died during the run.
    """

    def __init__(self, root: int, limit_mib: int) -> None:
        self.root = root
        self.limit_mib = limit_mib
        self.reason: str | None = None
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-guard", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(GUARD_SAMPLE_S):
            procs = _tree(self.root)
            if not procs:
                return
            rss = 0.0
            for proc in procs:
                try:
                    rss += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_mib = max(self.peak_mib, rss / MIB)
            if rss > self.limit_mib * MIB:
                self.reason = (
                    f"out of memory: the server's processes reached {rss / MIB:.0f} MiB resident, "
                    f"over the memory limit of {self.limit_mib} MiB; killed"
                )
                _kill_tree(self.root, procs)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _kill_tree(root: int, procs: list[psutil.Process]) -> None:
    try:
        if os.getpgid(root) == root:  # the server leads its own group (process.start_process_group)
            os.killpg(root, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            continue
