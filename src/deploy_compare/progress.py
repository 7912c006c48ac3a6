"""The one progress and logging mechanism of every command, built on rich.

Lines ("[   12.3s] message") always print, so a log or CI output holds the whole story.
On a terminal, a transient status line (a load level's live req/s) is redrawn in place
under them. Quiet mode (`deploy-compare --quiet ...`, or DEPLOY_COMPARE_QUIET=1) drops
the status line, colour and cursor codes: plain text for CI and log files. Output that
is not a terminal is plain text anyway.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .stop_signals import raise_lost_interrupt

QUIET_ENV = "DEPLOY_COMPARE_QUIET"


def quiet_requested() -> bool:
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no")


class ProgressLog:
    def __init__(self, stream: TextIO | None = None, quiet: bool | None = None) -> None:
        from rich.console import Console

        quiet = quiet_requested() if quiet is None else quiet
        self.console = Console(
            file=stream or sys.stdout,
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=True,  # a long error line stays one line in a log
            color_system=None if quiet else "auto",
        )
        self.live = self.console.is_terminal and not quiet
        self.started = time.monotonic()
        self._status: Any = None  # rich.status.Status while a status line is shown

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self.started:7.1f}s]"

    def line(self, message: str) -> None:
        raise_lost_interrupt()  # a Ctrl-C a finalizer swallowed stops the command here
        self._stop_status()  # the next status update starts a fresh one below this line
        self.console.print(f"{self._stamp()} {message}")

    def stage(self, number: int, total: int, name: str, detail: str = "") -> None:
        self.line(f"== stage {number}/{total}: {name}" + (f" ({detail})" if detail else ""))

    def status(self, message: str) -> None:
        """A transient line, redrawn in place on a terminal; dropped otherwise."""
        if not self.live:
            return
        text = f"{self._stamp()}   {message}"
        if self._status is None:
            self._status = self.console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def close(self) -> None:
        self._stop_status()

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_callback(self, label: str) -> Callable[[Any], None]:
        """An on_progress callback for the load client's live snapshots."""

        def on_progress(p: Any) -> None:
            self.status(
                f"{label}: {p.phase} {p.elapsed_s:5.1f}s, {p.completed} done, "
                f"{p.errors} errors, {p.in_flight} in flight, {p.recent_rps:7.1f} req/s"
            )

        return on_progress
