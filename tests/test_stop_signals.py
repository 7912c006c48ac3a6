"""`kill` and a closed terminal stop a command like Ctrl-C, even when SIGINT starts ignored."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.unit

CHILD = """
import time
from deploy_compare.stop_signals import stop_signals_as_interrupt
try:
    with stop_signals_as_interrupt():
        print("ready", flush=True)
        time.sleep(30)
except KeyboardInterrupt:
    print("cleaned up", flush=True)
"""


def _ignore_sigint():  # what a non-interactive shell does to a background job
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["normal", "background-job"])
def test_stop_signal_runs_the_cleanup(sig, sigint_ignored):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "cleaned up" in out and time.monotonic() - started < 10
