"""Servers die with their owner (servers/supervisor.py): real processes, a real watchdog, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.unit

# An owner that starts a server group (a shell with a child in the group and one in a session of
# its own, like a worker that calls setsid), prints the group leader's pid and waits to be killed.
OWNER = """
import os, sys, time
from pathlib import Path
from deploy_compare.servers.process import start_process_group
work = Path(sys.argv[1])
work.mkdir(parents=True, exist_ok=True)
proc = start_process_group(
    ["sh", "-c", "sleep 600 & setsid sleep 601 & wait"], cwd=work, env=dict(os.environ), log_path=work / "log"
)
print(proc.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DEPLOY_COMPARE_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _start_owner(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "run" / "fake-native")], stdout=subprocess.PIPE, text=True, env=env
    )
    assert owner.stdout is not None
    leader = int(owner.stdout.readline())
    deadline = time.monotonic() + 10
    tree: list[int] = []
    while time.monotonic() < deadline and len(tree) < 3:  # leader + two sleeps
        tree = [leader, *(p.pid for p in psutil.Process(leader).children(recursive=True))]
        time.sleep(0.05)
    assert len(tree) == 3, tree
    return owner, tree


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_the_watchdog_stops_the_whole_tree_when_its_owner_is_sigkilled(tmp_path, state):
    owner, tree = _start_owner(tmp_path)
    pidfiles = list(state.glob(f"{owner.pid}-*.json"))
    assert len(pidfiles) == 1 and json.loads(pidfiles[0].read_text())["pid"] == tree[0]
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(tree) == [], "processes outlived their SIGKILLed owner"
    deadline = time.monotonic() + 5
    while pidfiles[0].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfiles[0].exists()


def test_leftovers_are_only_the_servers_of_dead_owners_and_are_stopped(tmp_path, state):
    from deploy_compare.servers.supervisor import find_leftovers, stop_leftovers

    owner, tree = _start_owner(tmp_path)
    try:
        assert find_leftovers() == []  # its owner lives: another run's server is never touched
        watchdog = next(p for p in psutil.Process(owner.pid).children() if "supervisor" in " ".join(p.cmdline()))
        watchdog.kill()  # a zombie until its parent, the owner, goes too
        time.sleep(0.2)
        owner.kill()
        owner.wait()
        time.sleep(0.5)
        assert _alive(tree), "with its watchdog dead too, the server should still be running"
        found = find_leftovers()
        assert [(f.what, f.ident, f.kind) for f in found] == [("process", str(tree[0]), "fake-native")]
        assert f"pid {tree[0]}" in found[0].describe() and str(owner.pid) in found[0].describe()
        assert stop_leftovers(found) == []
        assert _alive(tree) == []
        assert find_leftovers() == [] and not list(state.glob("*-*.json"))
    finally:
        for pid in _alive(tree):
            os.kill(pid, signal.SIGKILL)
        if owner.poll() is None:
            owner.kill()
