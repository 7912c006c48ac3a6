"""The launcher interface: start -> wait healthy (deadline) -> endpoint -> stop.

Docker and native are two implementations of this interface (not a flag). Subclasses
implement `_launch` (start the server, return quickly), `_check_health` (one probe:
return None when healthy, or a short string saying what is not ready yet; raise
ServerError when the server can never become healthy) and `_shutdown` (end everything,
idempotent, never raises).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clients.endpoint import Endpoint
from ..errors import ServerError
from .config import ServerConfig
from .model_spec import ServedModel
from .process import log_tail

if TYPE_CHECKING:
    from .metrics import MetricsSource
    from .monitor import MemoryGuard, ServerMonitor

__all__ = ["Endpoint", "Launcher"]

# Launchers alive in this interpreter; stopped at exit if the caller forgot (or an
# exception escaped outside a `with` block), so no Java process or container outlives us.
_LIVE: weakref.WeakSet[Launcher] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for launcher in live:
        launcher.stop()


atexit.register(_stop_all_at_exit)


class Launcher(ABC):
    """One server instance. Use as `with make_launcher(...) as server: server.endpoint`."""

    kind: str = ""  # the stack's registry name
    mode: str = ""  # "native" | "docker"
    config_class: type | None = None  # the config type this stack takes
    mode_note: str | None = None  # why this mode runs instead of the one asked for (auto fallback)
    poll_interval_s = 0.25

    def __init__(self, model: ServedModel, run_dir: Path, config: ServerConfig) -> None:
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.model = model
        self.config = config
        # Absolute: servers run with their own working directory, so a relative run dir
        # (the default runs/<id>) would point somewhere else for them.
        self.run_dir = Path(run_dir).resolve()
        self.work_dir = _fresh_dir(self.run_dir, f"{self.kind}-{self.mode}")
        self.log_path = self.work_dir / "server.log"
        self._endpoint: Endpoint | None = None
        self._started = False
        self._stopped = False
        #: seconds from start() to healthy (None until healthy)
        self.startup_s: float | None = None
        self.healthy_at: float | None = None  # time.monotonic() when it became healthy
        #: resident-memory limit of the server (MiB; None = none): Docker's --memory, natively
        #: a MemoryGuard that kills the process tree at the limit (servers/monitor.py)
        self.memory_limit_mib: int | None = None
        self._guard: MemoryGuard | None = None

    # ---- the interface -------------------------------------------------------------
    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            raise ServerError(f"{self.describe()}: no endpoint; the server is not running (call start() first)")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        """PID of the process answering requests (native), else None."""
        return None

    @property
    def root_pid(self) -> int | None:
        """PID of the root of everything this launcher started (native), else None."""
        return self.pid

    def monitor(self) -> ServerMonitor | None:
        """A monitor of this running server's CPU, memory and metrics (None: not running)."""
        from .monitor import NativeMonitor

        root = self.root_pid
        if root is None:
            return None
        metrics, note = self.metrics_source()
        return NativeMonitor(root, metrics, note)

    def metrics_source(self) -> tuple[MetricsSource | None, str | None]:
        """The stack's declared metrics scraper for this launch, or (None, why not)."""
        from ..lazy import import_object
        from .registry import get

        declared = get(self.kind).metrics
        if not declared:
            return None, f"{get(self.kind).label} exposes no queue/compute metrics"
        try:
            found = import_object(declared)(self)
        except Exception as exc:  # a record must not fail the run
            return None, f"metrics unavailable: {type(exc).__name__}: {exc}"
        if isinstance(found, str):
            return None, found
        return found, None

    def effective_settings(self) -> dict[str, Any]:
        """What the running server applied (threads, workers, instances; the stack's
        `effective` hook), for results.json; {} where the stack states none. Never raises."""
        from ..lazy import import_object
        from .registry import get

        declared = get(self.kind).effective
        if not declared:
            return {}
        try:
            return dict(import_object(declared)(self))
        except Exception as exc:  # a record must not fail the run
            return {"unavailable": f"{type(exc).__name__}: {exc}"}

    def failure_reason(self) -> str | None:
        """Why the server died, when the toolkit knows (out of memory), else None."""
        return self._guard.reason if self._guard is not None else None

    def describe(self) -> str:
        from .registry import labels

        return f"{labels().get(self.kind, self.kind)} ({self.mode})"

    def start(self) -> Endpoint:
        """Launch, wait until healthy or the deadline, return the endpoint.

        On ANY failure (including Ctrl-C) everything started so far is stopped before the
        error propagates; ServerError carries the last lines of the server log.
        """
        if self._started:
            raise ServerError(f"{self.describe()}: start() called twice")
        self._started = True
        with _LIVE_LOCK:
            _LIVE.add(self)
        began = time.monotonic()
        try:
            self._launch()
            self._start_guard()
            self._endpoint = self._wait_healthy(began + self.config.start_timeout_s)
        except ServerError as exc:
            self.stop()
            if not exc.log_tail:
                raise ServerError(str(exc), self.tail()) from exc
            raise
        except BaseException:
            self.stop()
            raise
        self.healthy_at = time.monotonic()
        self.startup_s = self.healthy_at - began
        return self._endpoint

    def stop(self) -> None:
        """End the server and everything it started. Idempotent; safe after a failed start."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._guard is not None:
                self._guard.stop()
            self._shutdown()
        finally:
            self._endpoint = None
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> Launcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- for subclasses ------------------------------------------------------------
    @abstractmethod
    def _launch(self) -> None:
        """Start the server process/container and return without waiting."""

    @abstractmethod
    def _check_health(self) -> str | None:
        """One probe: None when healthy, else what is missing. Raise ServerError if hopeless."""

    @abstractmethod
    def _make_endpoint(self) -> Endpoint:
        """The endpoint, once healthy."""

    @abstractmethod
    def _shutdown(self) -> None:
        """Stop everything; must not raise."""

    def _start_guard(self) -> None:
        if self.memory_limit_mib and self.root_pid is not None:
            from .monitor import MemoryGuard

            self._guard = MemoryGuard(self.root_pid, self.memory_limit_mib)

    def _wait_healthy(self, deadline: float) -> Endpoint:
        last = "no probe yet"
        while True:
            oom = self.failure_reason()
            if oom:
                raise ServerError(f"{self.describe()}: {oom}")
            try:
                problem = self._check_health()
            except ServerError:
                raise
            except Exception as exc:  # a probe's own failure is "not ready yet", kept for the message
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                return self._make_endpoint()
            last = problem
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.describe()} did not become healthy within {self.config.start_timeout_s:g} s; "
                    f"last check: {last}"
                )
            time.sleep(self.poll_interval_s)


def _fresh_dir(parent: Path, name: str) -> Path:
    """parent/name, or parent/name-2, -3... so two instances never share logs."""
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        candidate = parent / (name if i == 1 else f"{name}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ServerError(f"{parent}: too many {name}* directories")
