"""Native server processes: start in a new session, end the whole tree, free ports, log tails.

TorchServe is three layers deep (the `torchserve` Python wrapper -> a Java frontend ->
Python workers). Signalling only the wrapper leaves Java and its workers running, so the
server is started as the leader of a new session (own process group) and stopped by
signalling the group AND every descendant psutil can still see (in case one changed its
group), escalating from SIGTERM to SIGKILL.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psutil

from ..errors import ServerError
from .proctree import stop_tree


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago.

    All sockets stay open until every port is chosen, so the same port is never handed out
    twice; a race with another process remains possible and shows as a bind error in the
    server log (reported with its tail).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_process_group(argv: Sequence[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start `argv` as the leader of a new session, stdout+stderr appended to `log_path`.

    The group gets a pidfile and this process a watchdog (supervisor.py): when this process
    dies, by SIGKILL too, the watchdog stops the group; stop_process_tree removes the pidfile.
    """
    from .supervisor import register_process

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _pidfiles[proc.pid] = register_process(proc.pid, Path(cwd).name, cwd)
    except BaseException:  # untracked, it would outlive the run: stop it before the error goes up
        stop_tree(proc.pid, proc.pid, grace_s=2.0, reap=lambda: _reap(proc))
        raise
    return proc


_pidfiles: dict[int, Path] = {}  # leader pid -> its pidfile (supervisor.register_process)


def stop_process_tree(proc: subprocess.Popen, grace_s: float = 10.0, extra: Sequence[psutil.Process] = ()) -> list[int]:
    """End `proc`, its process group and all descendants. Returns pids still alive (should be [])."""
    from .supervisor import unregister

    # leader of its own session: pgid == pid
    survivors = stop_tree(proc.pid, proc.pid, grace_s, extra, reap=lambda: _reap(proc))
    _reap(proc, block=True)
    if not survivors:
        unregister(_pidfiles.pop(proc.pid, None))
    return survivors


def _reap(proc: subprocess.Popen, block: bool = False) -> None:
    try:
        proc.wait(timeout=5 if block else 0)
    except subprocess.TimeoutExpired:
        pass


def log_tail(path: Path | None, lines: int = 40, max_chars: int = 6000) -> str:
    """The last `lines` lines of a log file ('' when there is none)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return tail[-max_chars:]


class LogWatcher:
    """Reads a growing log incrementally and reports the first line containing a fatal marker."""

    def __init__(self, path: Path, markers: Sequence[str]) -> None:
        self.path = path
        self.markers = tuple(markers)
        self._offset = 0
        self._partial = ""

    def fatal_line(self) -> str | None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
                self._offset = fh.tell()
        except OSError:
            return None
        text = self._partial + chunk.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()  # possibly incomplete
        for line in lines:
            for marker in self.markers:
                if marker in line:
                    return line.strip()
        return None

    def raise_if_failed(self, proc: subprocess.Popen, what: str) -> None:
        """ServerError when the log shows a fatal line or the process already exited: the
        checks every native launcher makes before asking the server whether it is healthy."""
        fatal = self.fatal_line()
        if fatal:
            raise ServerError(f"{what} failed to start: {fatal[:300]}")
        code = proc.poll()
        if code is not None:
            raise ServerError(f"{what} exited with code {code} before becoming healthy")
