"""Raw per-request records, the only thing the timing loops produce.

One tuple per request, appended in the hot path (a tuple append is the cheapest record):
    (scheduled_ns, sent_ns, done_ns, kind, sample, status, body)
`body` is the response body (bytes) or, for a failed request, the error text.
Times are time.perf_counter_ns(); sent_ns/done_ns are 0 for a dropped request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OK = 0
HTTP_STATUS = 1
TIMEOUT = 2
CONNECT = 3
TRANSPORT = 4  # any other transport failure: connection reset, protocol error, ...
DROPPED = 5  # open loop: no free connection within max_in_flight; never sent
UNPARSEABLE = 6  # assigned after the run, when a 2xx body does not parse
GRPC_STATUS = 7  # a gRPC call ended with a status other than OK (status column: its code)

KIND_NAMES = {
    OK: "ok",
    HTTP_STATUS: "http_status",
    TIMEOUT: "timeout",
    CONNECT: "connect",
    TRANSPORT: "transport",
    DROPPED: "dropped",
    UNPARSEABLE: "unparseable",
    GRPC_STATUS: "grpc_status",
}
ERROR_KINDS = ("timeout", "connect", "http_status", "unparseable", "transport", "grpc_status")

Record = tuple[int, int, int, int, int, int, "bytes | str"]


@dataclass
class RawRun:
    """What one timing loop saw: records plus the clock marks that bound the window."""

    records: list[Record] = field(default_factory=list)
    start_ns: int = 0  # loop start (warm-up begins)
    measure_start_ns: int = 0  # warm-up ends: records scheduled before this are excluded
    stop_ns: int = 0  # no new request was issued after this
    end_ns: int = 0  # last in-flight request finished
    cpu_measure_ns: int = 0  # CPU time of the client's loop thread during the measured window
    wait_measure_ns: int | None = None  # time that thread was runnable but had no CPU (Linux)
    stopped_by_cap: bool = False  # max_duration_s ended the run before min_requests
    stop_reason: str = ""  # LoadResult.stop_reason
    event_loop: str = ""  # the loop implementation that ran the timing loop (uvloop or asyncio)

    def columns(self) -> dict[str, np.ndarray]:
        """Numeric columns as arrays (bodies stay in `records`)."""
        if not self.records:
            empty = np.zeros(0, dtype=np.int64)
            return {k: empty for k in ("scheduled_ns", "sent_ns", "done_ns", "kind", "sample", "status")}
        arr = np.array([r[:6] for r in self.records], dtype=np.int64)
        return {
            "scheduled_ns": arr[:, 0],
            "sent_ns": arr[:, 1],
            "done_ns": arr[:, 2],
            "kind": arr[:, 3],
            "sample": arr[:, 4],
            "status": arr[:, 5],
        }
