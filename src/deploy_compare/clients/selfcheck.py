"""Is the CLIENT the bottleneck? A run that says so must not be read as the server's limit.

Rule (both inputs are measured over the measured window only):
- cpu: the client's event-loop thread was busy (CPU time / wall time) PLUS waiting for a
  CPU (runnable, but other processes had the cores; Linux schedstat) for at least
  LoadConfig.max_client_cpu_share (default 0.85) of the window. Such a loop cannot send
  or react any faster, so the throughput it saw is at least partly the client's ceiling.
  The waiting part matters on shared machines: a client starved by neighbours has a low
  CPU share yet reacts late to every response.
- late sends (open loop): more than LoadConfig.max_late_share (default 5%) of the sends
  left later than late_threshold_ms (default 5 ms: asyncio timers wake with ~1 ms
  granularity, the GIL switch interval is 5 ms) after their scheduled time. The arrival process was then not the one
  asked for. Latency still counts from the scheduled time, so it stays honest, but the
  run measured an overloaded client as much as the server.
Drops (no free connection within max_in_flight) are NOT a client fault: they mean the
server (or the in-flight bound) could not keep up, and are reported as `dropped`.
"""

from __future__ import annotations

import platform

from ..versions import package_versions
from .config import LoadConfig


def bottleneck_reasons(
    cpu_share: float | None, late_share: float | None, config: LoadConfig, wait_share: float | None = None
) -> list[str]:
    reasons = []
    wanted = (cpu_share or 0.0) + (wait_share or 0.0)
    if cpu_share is not None and wanted >= config.max_client_cpu_share:
        waiting = f" + waiting for a CPU {wait_share:.0%}" if wait_share else ""
        reasons.append(
            f"client event-loop thread busy {cpu_share:.0%}{waiting} of the window "
            f"(limit {config.max_client_cpu_share:.0%})"
        )
    if late_share is not None and late_share > config.max_late_share:
        reasons.append(
            f"{late_share:.1%} of sends left more than {config.late_threshold_ms:g} ms after schedule "
            f"(limit {config.max_late_share:.0%})"
        )
    return reasons


def client_info() -> dict[str, str]:
    """Versions that shape the client's own overhead, recorded with every result."""
    return {"python": platform.python_version(), **package_versions("httpx", "httptools", "uvloop", "numpy")}
