"""Process trees and groups: find them and end them, SIGTERM then SIGKILL.

Below both the launchers' stop (process.py) and the watchdog that ends a killed run's
servers (supervisor.py), which each need it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence

import psutil


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            # is_running() also guards against pid reuse (compares create time).
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            continue
    return alive


def tree_of(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that exist now."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return [root]


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid:
                members.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def stop_tree(
    root: int | None,
    pgid: int,
    grace_s: float = 10.0,
    extra: Sequence[psutil.Process] = (),
    reap: Callable[[], None] = lambda: None,
) -> list[int]:
    """End the process group `pgid`, the tree under `root` (None: gone already) and `extra`:
    SIGTERM, `grace_s`, then SIGKILL. Returns pids still alive (should be [])."""
    procs = {p.pid: p for p in [*(tree_of(root) if root is not None else []), *group_members(pgid), *extra]}
    targets = list(procs.values())
    _signal_all(pgid, targets, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _alive(targets) and time.monotonic() < deadline:
        reap()
        time.sleep(0.1)
    survivors = _alive(targets)
    if survivors:
        # Late children (a worker respawned during shutdown) are picked up here too.
        more = {p.pid: p for p in [*survivors, *group_members(pgid)]}
        for p in list(more.values()):
            more.update({c.pid: c for c in tree_of(p.pid)})
        targets = list(more.values())
        _signal_all(pgid, targets, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while _alive(targets) and time.monotonic() < deadline:
            reap()
            time.sleep(0.05)
    return [p.pid for p in _alive(targets)]


def _signal_all(pgid: int, procs: list[psutil.Process], sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            continue
