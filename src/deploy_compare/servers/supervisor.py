"""Servers die with the run, whatever kills it: pidfiles, owner labels and a watchdog.

Every native server the toolkit starts gets a pidfile in the state directory (STATE_DIR_ENV,
default <tmp>/deploy-compare-<uid>/servers) naming its owner (the process that started it,
by pid and start time), its process group and its own start time. Every container carries
the owner in its labels (OWNER_PID_LABEL, OWNER_STARTED_LABEL).

The first server an owner starts also starts a watchdog: `python -m
deploy_compare.servers.supervisor OWNER_PID OWNER_STARTED`, in a session of its own (a
kill of the owner's process group does not reach it). It polls its owner every
POLL_S; once the owner is gone, by any signal, SIGKILL included, it stops every process
tree and container the owner's pidfiles and labels name, then exits.

Why a watchdog and not PR_SET_PDEATHSIG: the parent-death signal reaches only the process
that set it (TorchServe's `torchserve` wrapper, not its Java frontend nor the Python workers
Java forks), and it fires when the parent THREAD that forked exits, so a server started
from a short-lived thread would be killed mid-run. The watchdog stops whole process groups
and every descendant still in them, and containers too, which no signal reaches.

A run killed together with its watchdog (`kill -9` of both, an OOM kill of the machine's
biggest processes) still leaves its pidfiles and labels behind: the next run's preflight
(find_leftovers / stop_leftovers) stops what they name, only where the owner is dead, so
another run or test on the same machine is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

STATE_DIR_ENV = "DEPLOY_COMPARE_STATE_DIR"
#: every container and image the toolkit makes carries this label (value: the stack);
#: `deploy-compare clean` and the leak tests find them by it.
LABEL = "org.deploy-compare.kind"
RUN_DIR_LABEL = "org.deploy-compare.run-dir"
OWNER_PID_LABEL = "org.deploy-compare.owner-pid"
OWNER_STARTED_LABEL = "org.deploy-compare.owner-started"
POLL_S = 0.2
#: SIGTERM, then this long, then SIGKILL: a dead run's servers need no graceful drain
TEARDOWN_GRACE_S = 2.0

_watchdog: dict[int, subprocess.Popen] = {}  # owner pid -> its watchdog (one per process, fork-safe)
_watchdog_lock = threading.Lock()


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_ENV)
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"deploy-compare-{os.getuid()}" / "servers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


#: how far two readings of one process's start time may differ: psutil derives it from the
#: boot time in whole seconds, which a clock correction moves; a reused pid starts later
START_TOLERANCE_S = 1.5


def alive(pid: int, started: float | None) -> bool:
    """True while process `pid` is the one that started at `started` (guards pid reuse)."""
    now = _started(pid)
    if now is None or (started is not None and abs(now - started) > START_TOLERANCE_S):
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def owner_labels() -> dict[str, str]:
    """Container labels naming this process as the owner."""
    me = os.getpid()
    return {OWNER_PID_LABEL: str(me), OWNER_STARTED_LABEL: repr(_started(me))}


# ---- native servers: pidfiles ---------------------------------------------------------------
def register_process(pid: int, kind: str, run_dir: Path | str) -> Path:
    """Write the pidfile of a server process group led by `pid`; start the watchdog."""
    ensure_watchdog()
    me = os.getpid()
    record = {
        "owner_pid": me,
        "owner_started": _started(me),
        "pid": pid,
        "pgid": pid,  # start_process_group: the leader of its own session
        "started": _started(pid),
        "kind": kind,
        "run_dir": str(run_dir),
    }
    path = state_dir() / f"{me}-{pid}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _pidfiles() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(state_dir().glob("*.json")):
        try:
            found.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return found


# ---- what a dead owner left -------------------------------------------------------------------
@dataclass(frozen=True)
class Leftover:
    """A server whose owner (the run that started it) is gone."""

    what: str  # "process" | "container"
    ident: str  # pid, or the container's name
    kind: str
    run_dir: str
    owner_pid: int

    def describe(self) -> str:
        where = f" of run {self.run_dir}" if self.run_dir else ""
        noun = f"pid {self.ident}" if self.what == "process" else f"container {self.ident}"
        return f"{self.kind} {noun}{where} (its run, pid {self.owner_pid}, is gone)"


def find_leftovers(owner_pid: int | None = None, docker_client: Any = None) -> list[Leftover]:
    """Servers whose owner is dead (or, given `owner_pid`, that owner's servers). Pidfiles of
    processes already gone are removed on the way."""
    found = []
    for path, rec in _pidfiles():
        owner = rec.get("owner_pid", -1)
        if owner_pid is not None and owner != owner_pid:
            continue
        if owner_pid is None and alive(owner, rec.get("owner_started")):
            continue  # a run (or test) still going: not ours to touch
        if _tree_alive(rec):
            found.append(
                Leftover("process", str(rec["pid"]), rec.get("kind", "?"), rec.get("run_dir", ""), rec["owner_pid"])
            )
        else:
            path.unlink(missing_ok=True)
    for name, labels in _owned_containers(docker_client, owner_pid):
        found.append(
            Leftover(
                "container", name, labels.get(LABEL, "?"), labels.get(RUN_DIR_LABEL, ""), int(labels[OWNER_PID_LABEL])
            )
        )
    return found


def _tree_alive(rec: dict[str, Any]) -> bool:
    from .proctree import group_members

    return alive(rec["pid"], rec.get("started")) or bool(group_members(rec["pgid"]))


def _owned_containers(client: Any, owner_pid: int | None) -> list[tuple[str, dict[str, str]]]:
    """(name, labels) of containers with owner labels whose owner is dead (or is `owner_pid`).

    Sparse listing: one call, no per-container inspect that a container removed meanwhile
    would fail (the engine answers 404 for it and the whole list would be lost)."""
    if client is None:
        return []
    wanted = [OWNER_PID_LABEL] if owner_pid is None else [f"{OWNER_PID_LABEL}={owner_pid}"]
    try:
        listed = client.api.containers(all=True, filters={"label": wanted})
    except Exception:
        return []
    owned = []
    for entry in listed:
        labels = entry.get("Labels") or {}
        name = (entry.get("Names") or ["/" + str(entry.get("Id", "?"))[:12]])[0].lstrip("/")
        try:
            started: float | None = float(labels.get(OWNER_STARTED_LABEL, "nan"))
            pid = int(labels.get(OWNER_PID_LABEL, "0"))
        except ValueError:
            started, pid = None, 0
        if owner_pid is not None or not alive(pid, started):
            owned.append((name, labels))
    return owned


def stop_leftovers(leftovers: list[Leftover], docker_client: Any = None) -> list[str]:
    """Stop each leftover; returns the names of those still alive (should be [])."""
    from .proctree import stop_tree

    survivors = []
    records = {str(rec.get("pid")): (path, rec) for path, rec in _pidfiles()}
    for leftover in leftovers:
        if leftover.what == "process":
            path, rec = records.get(leftover.ident, (None, None))
            if rec is None:
                continue
            started = rec.get("started")
            root = int(rec["pid"]) if alive(int(rec["pid"]), started) else None
            if stop_tree(root, int(rec["pgid"]), grace_s=TEARDOWN_GRACE_S):
                survivors.append(leftover.describe())
            else:
                unregister(path)
        elif docker_client is not None:
            try:
                docker_client.containers.get(leftover.ident).remove(force=True)
            except Exception as exc:
                if "No such container" not in str(exc) and "404" not in str(exc):
                    survivors.append(f"{leftover.describe()}: {exc}")
    return survivors


def docker_client_or_none(timeout_s: int = 10) -> Any:
    """A docker SDK client when an engine answers, else None (no engine: no containers to find)."""
    try:
        import docker

        client = docker.from_env(timeout=timeout_s)  # type: ignore[attr-defined]  # docker has no stubs for it
        client.ping()
        return client
    except Exception:
        return None


# ---- the watchdog ---------------------------------------------------------------------------
def ensure_watchdog() -> None:
    """Start this process's watchdog once (again in a forked child: it is a new owner)."""
    me = os.getpid()
    with _watchdog_lock:
        running = _watchdog.get(me)
        if running is not None and running.poll() is None:
            return
        argv = [sys.executable, "-m", "deploy_compare.servers.supervisor", str(me), repr(_started(me))]
        log = state_dir() / f"watchdog-{me}.log"
        with open(log, "ab") as fh:
            _watchdog[me] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a kill of the owner's process group does not reach it
                env=_watchdog_env(),
            )


def _watchdog_env() -> dict[str, str]:
    """The owner's environment, with the import path that found this package first."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.pop("COVERAGE_PROCESS_START", None)
    return env


def watchdog_pid(owner_pid: int | None = None) -> int | None:
    """The pid of `owner_pid`'s watchdog (default: this process's), if it runs."""
    proc = _watchdog.get(owner_pid or os.getpid())
    return proc.pid if proc is not None and proc.poll() is None else None


def watch(owner_pid: int, owner_started: float | None) -> list[str]:
    """Wait for the owner to die, then stop everything it left. Returns what was stopped."""
    while alive(owner_pid, owner_started):
        time.sleep(POLL_S)
    client = None
    with contextlib.suppress(Exception):
        if any(rec.get("owner_pid") == owner_pid for _, rec in _pidfiles()) or _engine_socket_exists():
            client = docker_client_or_none()
    leftovers = find_leftovers(owner_pid=owner_pid, docker_client=client)
    survivors = stop_leftovers(leftovers, client)
    stopped = [item.describe() for item in leftovers]
    for line in stopped:
        print(f"watchdog: stopped {line}", flush=True)
    for line in survivors:
        print(f"watchdog: could not stop {line}", flush=True)
    if not stopped:  # the owner stopped its servers itself: nothing worth keeping in the log
        (state_dir() / f"watchdog-{owner_pid}.log").unlink(missing_ok=True)
    return stopped


def _engine_socket_exists() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    return bool(host) or Path("/var/run/docker.sock").exists()


def main(argv: list[str]) -> int:
    owner_pid = int(argv[0])
    owner_started = None if argv[1] == "None" else float(argv[1])
    watch(owner_pid, owner_started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
