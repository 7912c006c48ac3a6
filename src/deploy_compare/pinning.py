"""Pin a process, or a process and its descendants, to cores: every thread of each.

Linux affinity is per THREAD: sched_setaffinity(pid) moves only the thread whose id is
pid, and a new thread inherits the affinity of the thread that creates it. So pinning
here always walks every thread. A core module: the pipeline pins the server and the load
client with it (deploy/affinity.py plans which cores), the load client's actors pin
themselves (clients/distributed.py).
"""

from __future__ import annotations

import os


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
