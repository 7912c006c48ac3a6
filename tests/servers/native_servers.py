"""Each stack's native server, started once per test session and shared by every module that needs it.

The conformance suite (test_conformance.py) and the stack-specific modules ask the session's
NativeServers for a stack's running launcher: the first ask starts it, later asks get the same
server, and the session's end stops whatever is still running. The conformance suite's stop
test stops each server itself, as the last test of the session (tests/servers/conftest.py
moves it there), and checks that nothing of it is left.

SESSION_CONFIG: the config each stack's shared server runs with. Every stack gets one runtime
thread (a shared 2-core machine); a few stacks get settings their own tests need (TorchServe's
batching, Triton's two instances). A stack not named here runs its defaults: a new stack's
folder is enough for the conformance suite to start it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy_compare.servers import make_launcher
from deploy_compare.servers.base import Launcher
from deploy_compare.servers.registry import get

SESSION_CONFIG: dict[str, dict[str, Any]] = {
    # test_torchserve_native: concurrent requests merged into one handler call
    "torchserve": {"workers": 1, "batch_size": 4, "max_batch_delay_ms": 20},
    # test_triton: one Python-backend stub process per instance, batches of 4 or 8
    "triton": {"instances": 2, "max_queue_delay_us": 2000, "preferred_batch_sizes": [4, 8]},
    # one uvicorn worker: the service's /metrics counters are per worker (its metrics source needs 1)
    "fastapi_onnx": {"workers": 1},
}


def session_config(kind: str) -> Any:
    stack = get(kind)
    fields = {stack.threads_field: 1} if stack.threads_field else {}
    return stack.config_class(**{**fields, **SESSION_CONFIG.get(kind, {})})


class NativeServers:
    """name -> its running native launcher, started on first use; a failed start is kept and re-raised."""

    def __init__(self, artifacts: Path, run_root: Path) -> None:
        self.artifacts = artifacts
        self.run_root = run_root
        self._running: dict[str, Launcher] = {}
        self._failed: dict[str, BaseException] = {}
        self._stopped: set[str] = set()

    def get(self, kind: str) -> Launcher:
        if kind in self._stopped:
            raise RuntimeError(f"the session's {kind} server was stopped by the conformance stop test; ask before it")
        if kind in self._failed:  # one start per session, even a failed one: fail fast with its error
            raise self._failed[kind]
        if kind not in self._running:
            launcher = make_launcher(
                kind, "native", manifest_dir=self.artifacts, run_dir=self.run_root / kind, config=session_config(kind)
            )
            try:
                launcher.start()
            except BaseException as exc:
                self._failed[kind] = exc
                raise
            self._running[kind] = launcher
        return self._running[kind]

    def stop(self, kind: str) -> None:
        self._stopped.add(kind)
        launcher = self._running.pop(kind, None)
        if launcher is not None:
            launcher.stop()

    def stop_all(self) -> None:
        for kind in list(self._running):
            self.stop(kind)
