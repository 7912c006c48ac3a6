"""CPU pinning must move every thread of a server, not only its main thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from deploy_compare.deploy.affinity import pin_self, pin_tree, plan_cores, usable_cores

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(len(usable_cores()) < 2, reason="needs two usable cores to tell pinning apart"),
]

# A child with a few idle threads and a grandchild: a stand-in for Java + its workers.
CHILD = """
import subprocess, sys, threading, time
for _ in range(4):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("ready", flush=True)
time.sleep(60)
"""


def thread_affinities(pid: int) -> list[set[int]]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return [os.sched_getaffinity(t.id) for p in procs for t in p.threads()]


@pytest.fixture
def restore_affinity():
    before = [(t.id, os.sched_getaffinity(t.id)) for t in psutil.Process().threads()]
    yield
    for tid, cores in before:
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:
            pass


def test_pin_tree_moves_every_thread_of_every_process():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        server_core = (usable_cores()[0],)
        pinned = pin_tree(proc.pid, server_core)
        affinities = thread_affinities(proc.pid)
        assert pinned == len(affinities) >= 6  # 5 threads in the child, 1 in the grandchild
        assert all(a == set(server_core) for a in affinities)
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()


def test_a_server_started_after_pin_self_inherits_the_cores(restore_affinity):
    plan = plan_cores()
    assert pin_self(plan.server)
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        pin_self(plan.client)  # the client moves away; the server's threads stay
        time.sleep(0.1)
        assert all(a == set(plan.server) for a in thread_affinities(proc.pid))
        assert all(os.sched_getaffinity(t.id) == set(plan.client) for t in psutil.Process().threads())
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()


def test_plan_splits_cores_and_reports_sharing():
    assert plan_cores([0, 1, 2, 3]).server == (0, 1, 2) and plan_cores([0, 1, 2, 3]).client == (3,)
    single = plan_cores([5])
    assert single.shared and single.server == single.client == (5,)
