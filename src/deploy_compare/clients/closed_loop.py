"""Closed loop: N workers, each sends its next request when its last one completed.

Only collects raw records (records.py); statistics happen elsewhere. In a closed loop
the scheduled time IS the send time: a slow server slows the senders down, which is
why closed-loop latency alone hides stalls (use the open loop for tail latency).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from .config import LoadConfig
from .connections import (
    PreparedRequest,
    WorkerConnection,
    build_requests,
    close_all,
    error_status,
    make_transports,
    transport_error_kind,
)
from .payload import Payloads
from .records import HTTP_STATUS, OK, RawRun
from .window import Progress, RunWindow


async def closed_loop(
    payloads: Payloads,
    config: LoadConfig,
    on_progress: Callable[[Progress], None] | None = None,
) -> RawRun:
    transports = make_transports(config.concurrency, payloads)
    requests = build_requests(payloads, config.timeout_s)
    run = RawRun()
    window = RunWindow(config, run, on_progress)
    counter = [0]  # shared round-robin position over the payloads
    try:
        workers = [asyncio.create_task(_worker(t, requests, run, window, counter)) for t in transports]
        await window.watch(lambda: config.concurrency - sum(w.done() for w in workers))
        await asyncio.gather(*workers)
        window.finish()
    finally:
        await close_all(transports)
    return run


async def _worker(
    transport: WorkerConnection,
    requests: list[PreparedRequest],
    run: RawRun,
    window: RunWindow,
    counter: list[int],
) -> None:
    # The hot path: keep per-request Python work to a clock read, a send and one append.
    n = len(requests)
    append = run.records.append
    clock = time.perf_counter_ns
    while not window.stopping:
        i = counter[0]
        counter[0] = i + 1
        k = i % n
        t0 = clock()
        try:
            status, body = await transport.send(requests[k])
        except httpx.TransportError as exc:
            append((t0, t0, clock(), transport_error_kind(exc), k, error_status(exc), repr(exc)))
            if isinstance(exc, httpx.ConnectError):
                await asyncio.sleep(0.001)  # a refused connect returns at once: do not spin
        else:
            append((t0, t0, clock(), OK if 200 <= status < 300 else HTTP_STATUS, k, status, body))
