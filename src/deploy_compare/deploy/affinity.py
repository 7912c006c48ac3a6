"""Split the usable cores between the server and the load client.

With two or more cores, the server gets all but the last core and the client the last
one, so the client never steals the server's CPU (and the report says who had which).
With one core both share it, and the report says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class CorePlan:
    server: tuple[int, ...]
    client: tuple[int, ...]
    shared: bool

    def to_dict(self) -> dict:
        return {"server_cores": list(self.server), "client_cores": list(self.client), "shared": self.shared}


def usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def plan_cores(cores: list[int] | None = None) -> CorePlan:
    cores = usable_cores() if cores is None else sorted(cores)
    if len(cores) < 2:
        return CorePlan(tuple(cores), tuple(cores), shared=True)
    return CorePlan(tuple(cores[:-1]), (cores[-1],), shared=False)


def pin(pid: int, cores: tuple[int, ...]) -> bool:
    """Pin a process (0 = this one) to cores; False where the OS does not allow it."""
    try:
        os.sched_setaffinity(pid, set(cores))
        return True
    except (AttributeError, OSError):
        return False


def pin_tree(pid: int, cores: tuple[int, ...]) -> int:
    """Pin a process and its current descendants (a server's workers); returns how many."""
    import psutil

    pinned = 0
    try:
        process = psutil.Process(pid)
        for proc in [process, *process.children(recursive=True)]:
            try:
                proc.cpu_affinity(list(cores))
                pinned += 1
            except (psutil.Error, OSError):
                pass
    except psutil.Error:
        pass
    return pinned
