"""Before measuring, and before each stage: no leftover server, no stranger on the cores.

1. Leftovers: servers and containers an earlier run left (its pidfiles and owner labels,
   servers/supervisor.py), found only where that run's process is gone, are stopped and named.
2. Busy processes: every process's CPU over [run] busy_sample_s; one using more than
   [run] busy_cpu_share of a core, on a core the run uses, is busy. This run's own
   processes (itself, what it started, and the processes it runs under, which wait for it)
   never count. [run] busy_machine "stop" raises BusyMachineError naming each by name and
   pid; "warn" returns them, and the pipeline marks the stage measured beside them.

The load average and the CPU steal over the same sample go with it into environment.json
and the report's Run table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from ..errors import BusyMachineError
from .config import RunSection


@dataclass
class BusyProcess:
    pid: int
    name: str
    cpu_share: float  # of one core, over the sample

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}, {self.cpu_share:.0%} of a core)"


@dataclass
class MachineCheck:
    load_average: list[float]
    steal_percent: float | None  # of all CPU time over the sample (a VM's stolen cycles)
    busy: list[BusyProcess] = field(default_factory=list)
    leftovers_stopped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "busy": [b.describe() for b in self.busy]}


def own_pids() -> set[int]:
    """This process, every process under it (servers, watchdog, client actors) and every one
    above it (the shell or test runner that waits for it)."""
    me = psutil.Process()
    pids = {me.pid}
    try:
        pids |= {p.pid for p in me.children(recursive=True)}
        pids |= {p.pid for p in me.parents()}
    except psutil.Error:
        pass
    return pids


def busy_processes(cores: Iterable[int], share: float, sample_s: float) -> tuple[list[BusyProcess], float | None]:
    """(processes above `share` of a core on `cores` over `sample_s`, CPU steal % over it)."""
    wanted = set(cores)
    procs = list(psutil.process_iter(["pid", "name"]))
    for p in procs:
        try:
            p.cpu_percent(None)  # the first call only starts the process's clock
        except psutil.Error:
            continue
    before = psutil.cpu_times()
    time.sleep(sample_s)
    after = psutil.cpu_times()
    mine = own_pids()
    busy = []
    for p in procs:
        if p.pid in mine:
            continue
        try:
            used = p.cpu_percent(None) / 100.0
            if used < share or not wanted & set(p.cpu_affinity() or wanted):
                continue
            busy.append(BusyProcess(p.pid, p.info.get("name") or "?", round(used, 2)))
        except psutil.Error:
            continue  # gone meanwhile: not busy any more
    return sorted(busy, key=lambda b: -b.cpu_share), _steal_percent(before, after)


def _steal_percent(before: Any, after: Any) -> float | None:
    if not hasattr(before, "steal"):
        return None
    total = sum(after) - sum(before)
    return round(100.0 * (after.steal - before.steal) / total, 2) if total > 0 else 0.0


def check_machine(run: RunSection, cores: Iterable[int], progress: Any, *, where: str) -> MachineCheck:
    """Stop and name leftovers, then sample the machine. BusyMachineError in "stop" mode when
    a stranger is busy; `where` says when (before the run, before a stage) in its message."""
    from ..servers.supervisor import docker_client_or_none, find_leftovers, stop_leftovers

    client = docker_client_or_none()
    try:
        leftovers = find_leftovers(docker_client=client)
        still = stop_leftovers(leftovers, client) if leftovers else []
    finally:
        if client is not None:
            client.close()
    for item in leftovers:
        progress.line(f"preflight: stopped a leftover server: {item.describe()}")
    for line in still:
        progress.line(f"preflight: could NOT stop a leftover server: {line}")
    busy, steal = busy_processes(cores, run.busy_cpu_share, run.busy_sample_s)
    check = MachineCheck(
        load_average=[round(x, 2) for x in os.getloadavg()],
        steal_percent=steal,
        busy=busy,
        leftovers_stopped=[item.describe() for item in leftovers],
    )
    if busy:
        names = "; ".join(b.describe() for b in busy)
        if run.busy_machine == "stop":
            raise BusyMachineError(
                f"{where}: other processes keep the run's cores busy (above {run.busy_cpu_share:g} of a core): "
                f'{names}; stop them, or set [run] busy_machine = "warn" to measure beside them (figures marked)'
            )
        progress.line(f"{where}: WARNING: measuring beside busy processes: {names}")
    return check
