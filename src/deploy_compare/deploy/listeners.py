"""Listeners on the scenario's events (deploy/scenario.py) for a served stage: the progress
lines, the health check between runs and the server's own view of each run (servers/monitor.py).
The record (results.json) is deploy/record.py's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ServerError
from .scenario import At, Events, observe


def check_alive(launcher: Any, kind: str) -> None:
    """A dead server must fail its target loudly, not look like a slow one."""
    import psutil

    reason = launcher.failure_reason()  # out of memory (the guard's kill, Docker's OOM killer)
    if reason:
        raise ServerError(f"{kind}: {reason}", launcher.tail(15))
    pid = launcher.pid
    if pid is not None and not psutil.pid_exists(pid):
        raise ServerError(f"{kind}: the server process (pid {pid}) exited during the run", launcher.tail(15))


class Health:
    """After each level and trial, and when a batch size fails: is the server still up?"""

    def __init__(self, launcher: Any, kind: str) -> None:
        self.launcher, self.kind = launcher, kind

    def check(self, **_: Any) -> None:
        check_alive(self.launcher, self.kind)

    level_finished = trial_finished = batch_failed = encoding_failed = check


class ServerView:
    """The server's view of each load run in LoadResult.server: the monitor starts when the run
    reports the end of its warm-up and ends when the run returns (in-flight requests drained),
    so it covers the requests the client's figures count."""

    def __init__(self, launcher: Any, on_usage: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.launcher, self.on_usage = launcher, on_usage
        self.monitor: Any = None
        self.timer: threading.Timer | None = None

    def run_started(self, at: At | None, what: str, config: Any) -> None:
        self.monitor, self.timer = self.launcher.monitor(), None

    def measuring_started(self, delay_s: float) -> None:
        if self.monitor is not None and self.timer is None:
            # Off the event loop: a metrics scrape must not delay requests.
            self.timer = threading.Timer(delay_s, self.monitor.begin)
            self.timer.daemon = True
            self.timer.start()

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()  # not yet fired (a run cut short inside its warm-up): never begins
            self.timer.join(timeout=30)  # a begin under way finishes first, so close() stops its thread

    def run_failed(self, error: BaseException) -> None:
        self._cancel()  # the sampler and a pending begin must not outlive a failed run
        if self.monitor is not None:
            self.monitor.close()

    def run_finished(self, result: Any) -> None:
        monitor = self.monitor
        if monitor is None or self.timer is None:
            return
        self._cancel()
        if not monitor.begun:
            result.server = {"source": monitor.source, "error": "not sampled: the run ended within its warm-up"}
            return
        try:
            result.server = monitor.end(result.completed).to_dict()
            if self.on_usage is not None:
                self.on_usage(result.server)
        except Exception as exc:  # the server's view is a record; it must not fail the run
            result.server = {"source": monitor.source, "error": f"{type(exc).__name__}: {exc}"}


def monitored(run: Callable[..., Any], launcher: Any, on_usage: Callable[[dict[str, Any]], None] | None = None):
    """`run` (run_closed_loop's signature) with the server's view of its measured window in
    LoadResult.server (ServerView on the run's events)."""
    return observe(run, Events().add(ServerView(launcher, on_usage)), None, "")


class ServedProgress:
    """The served stage's progress lines and live status."""

    def __init__(self, progress: Any, kind: str, encodings: int, repetition: int, repeat: int) -> None:
        self.progress, self.kind, self.several = progress, kind, encodings > 1
        self.again = f" (repetition {repetition}/{repeat})" if repeat > 1 else ""
        self._status: dict[str, Callable[[Any], None] | None] = {}  # label -> the live status callback

    def where(self, at: At) -> str:
        if at.encoding_index > 0:
            return f"{self.kind} [{at.encoding}]"
        tag = f" [{at.encoding}]" if self.several else ""
        return f"{self.kind}{tag}" + (f" b={at.batch_size}" if at.batch_index > 0 else "")

    def encoding_skipped(self, encoding: str, reason: str) -> None:
        self.progress.line(f"{self.kind}: {encoding}: SKIPPED: {reason}")

    def encoding_failed(self, at: At, error: Exception) -> None:
        self.progress.line(f"{self.kind}: {at.encoding}: FAILED: {error}")

    def encoding_chosen(self, encoding: str, peaks: dict[str, float]) -> None:
        seen = ", ".join(f"{name} {peak:.0f}/s" for name, peak in peaks.items())
        self.progress.line(f"{self.kind}: SLO search on {encoding}, its best encoding ({seen})")

    def batch_failed(self, at: At, error: Exception) -> None:
        self.progress.line(f"{self.where(at)}: FAILED: {error}")

    def run_progress(self, at: At, what: str, snapshot: Any) -> None:
        label = f"{self.where(at)} {what}"
        if label not in self._status:  # a progress without a live status gives None
            self._status[label] = self.progress.load_callback(label)
        callback = self._status[label]
        if callback is not None:
            callback(snapshot)

    def level_finished(self, at: At, result: Any) -> None:
        from ..clients.results import client_processes_label

        r = result
        samples = f" ({r.throughput_samples_per_s or 0.0:.1f} samples/s)" if at.batch_size != 1 else ""
        self.progress.line(
            f"{self.where(at)}: concurrency {r.concurrency}: {r.throughput_rps:.1f} req/s{samples}, "
            f"p50 {_ms(r.p50_ms)}, p99 {_ms(r.p99_ms)}, errors {sum(r.errors.values())}"
            + _server_line(r.server)
            + (" [client was the bottleneck]" if r.client_bottleneck else "")
            + (f" [{client_processes_label(r.to_dict())}]" if getattr(r, "client_actors", None) else "")
        )

    def search_started(self, at: At, start_rate_rps: float | None, origin: str | None, seeded: bool) -> None:
        if origin is not None and not seeded:
            self.progress.line(f"{self.where(at)}: SLO search from {start_rate_rps:g} req/s ({origin})")

    def trial_finished(self, at: At, trial: Any) -> None:
        t = trial
        self.progress.line(
            f"{self.where(at)}: open loop {t.rate_rps:.1f} req/s{' (confirming)' if t.confirm else ''}: "
            f"{'pass' if t.passed else 'fail'}"
            + (f" ({t.reason})" if t.reason else "")
            + (
                f" (decided after {t.result.slo_decided_after} requests)"
                if t.passed and t.result.slo_decided_after
                else ""
            )
        )

    def search_finished(self, at: At, slo: Any, start_rate_rps: float | None, origin: str | None) -> None:
        best, fail = slo.max_rate_rps, slo.lowest_failing_rate_rps
        rate = "none" if best is None else f"{best:.1f} req/s"
        if best is not None and at.batch_size != 1:
            rate += f" = {best * at.batch_size:.1f} samples/s"
        confirmed = {True: ", confirmed", False: ", NOT confirmed", None: ""}[slo.confirmed]
        self.progress.line(
            f"{self.where(at)}: highest rate with {slo.describe()}{self.again}: {rate}"
            + (f" [pass {best:g}, fail {fail:g})" if best is not None and fail is not None else "")
            + confirmed
            + (f" ({slo.note})" if slo.note else "")
        )


def _server_line(server: dict[str, Any] | None) -> str:
    """'; server 0.52 ms CPU/request, 180 MiB peak, queue 0.1 / compute 0.3 ms' for the progress line."""
    if not server or "cpu_s" not in server:
        return ""
    text = f"; server {_ms(server.get('cpu_ms_per_request'))} CPU/request"
    if server.get("peak_rss_mib") is not None:
        text += f", {server['peak_rss_mib']:.0f} MiB peak"
    split = server.get("split")
    if split:
        text += f", queue {_ms(split.get('queue_ms'))} / compute {_ms(split.get('compute_ms'))}"
    return text


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.2f} ms"
