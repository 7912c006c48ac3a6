"""Progress of a run: stage lines always; a live status line for load levels on a terminal.

Plain lines when stdout is not a terminal (CI, pipes), so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class RunProgress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.live = self.stream.isatty()
        self._status_shown = False

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self.started:7.1f}s]"

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\033[K")
            self._status_shown = False

    def line(self, message: str) -> None:
        self._clear_status()
        self.stream.write(f"{self._stamp()} {message}\n")
        self.stream.flush()

    def stage(self, number: int, total: int, name: str, detail: str = "") -> None:
        self.line(f"== stage {number}/{total}: {name}" + (f" ({detail})" if detail else ""))

    def status(self, message: str) -> None:
        """A transient line, redrawn in place on a terminal; dropped otherwise."""
        if not self.live:
            return
        self.stream.write(f"\r\033[K{self._stamp()}   {message}")
        self.stream.flush()
        self._status_shown = True

    def load_callback(self, label: str):
        """An on_progress callback for the load client's live snapshots."""

        def on_progress(p) -> None:
            self.status(
                f"{label}: {p.phase} {p.elapsed_s:5.1f}s, {p.completed} done, "
                f"{p.errors} errors, {p.in_flight} in flight, {p.recent_rps:7.1f} req/s"
            )

        return on_progress
