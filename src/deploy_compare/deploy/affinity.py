"""Split the usable cores between the server and the load client.

With two or more cores, the server gets all but the last core and the client the last
one, so the client never steals the server's CPU (and the report says who had which).
With one core both share it, and the report says so.

Linux affinity is per THREAD: sched_setaffinity(pid) moves only the thread whose id is
pid, and a new thread inherits the affinity of the thread that creates it. So pinning
here always walks every thread, and the server is started while the parent's threads
are already on the server cores, so everything it spawns inherits them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..bench_local.environment import usable_cores


@dataclass(frozen=True)
class CorePlan:
    server: tuple[int, ...]
    client: tuple[int, ...]
    shared: bool

    def to_dict(self) -> dict:
        return {"server_cores": list(self.server), "client_cores": list(self.client), "shared": self.shared}


def plan_cores(cores: list[int] | None = None) -> CorePlan:
    cores = usable_cores() if cores is None else sorted(cores)
    if len(cores) < 2:
        return CorePlan(tuple(cores), tuple(cores), shared=True)
    return CorePlan(tuple(cores[:-1]), (cores[-1],), shared=False)


def pin_threads(pid: int, cores: tuple[int, ...]) -> int:
    """Pin every thread of process `pid`; returns how many threads were pinned."""
    import psutil

    pinned = 0
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return 0
    for thread in threads:
        try:
            os.sched_setaffinity(thread.id, set(cores))
            pinned += 1
        except (AttributeError, OSError):  # thread gone, or no affinity on this OS
            pass
    return pinned


def pin_self(cores: tuple[int, ...]) -> bool:
    """Pin every thread of this process; False where the OS does not allow it."""
    return pin_threads(os.getpid(), cores) > 0


def pin_tree(pid: int, cores: tuple[int, ...]) -> int:
    """Pin every thread of a process and of its descendants (a server and its workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    return sum(pin_threads(p.pid, cores) for p in procs)
