"""Public entry points: run a load against an endpoint and get a LoadResult."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
from collections.abc import Callable, Iterable, Iterator

import httpx

from ..errors import ConfigError, LoadError
from .analyze import analyze
from .closed_loop import closed_loop
from .config import Endpoint, LoadConfig
from .connections import build_requests, close_all, make_transports
from .encodings import encoding_for, error_message
from .open_loop import open_loop
from .payload import Payloads
from .records import RawRun
from .results import LoadResult
from .window import Progress

DEFAULT_CONCURRENCY = (1, 2, 4, 8, 16)
# gRPC statuses that, on the first call, mean a set-up mistake every call would repeat (the
# gRPC side of "a 4xx other than 429").
GRPC_SETUP_MISTAKES = frozenset(
    {"UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND", "INVALID_ARGUMENT", "UNIMPLEMENTED", "FAILED_PRECONDITION"}
)
LOOP_ENV = "DEPLOY_COMPARE_EVENT_LOOP"  # "asyncio" forces the standard loop (A/B measurements)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (and not disabled through LOOP_ENV), else None
    (asyncio's default). uvloop runs the loop, timers and socket I/O in C: measured with
    this client on a trivial local endpoint, 5-9% less CPU per request (c=1/4/16). The loop used is
    recorded in each result's client_info["event_loop"]."""
    if os.environ.get(LOOP_ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


ProgressFn = Callable[[Progress], None]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage-collector pauses inside a run: they would be timed as server latency.

    A full collection walks every tracked object: 10 ms in a process holding only numpy and
    this client (seen as a 10 ms request on a trivial endpoint), far more in one that has
    imported torch and TensorFlow. So: collect once, freeze what exists (later collections
    skip it), and keep the collector off until the run ends. The load loops create no
    reference cycles per request, so nothing piles up meanwhile (checked by a test).
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


async def preflight(endpoint: Endpoint, payloads: Payloads, config: LoadConfig) -> None:
    """One request before the run: a dead URL, wrong model or bad key fails fast and clearly."""
    url = encoding_for(endpoint).url
    transports = make_transports(1, payloads)
    try:
        request = build_requests(payloads, config.timeout_s)[0]
        try:
            status, body = await transports[0].send(request)
        except httpx.TransportError as exc:
            code = getattr(exc, "code", None)  # grpc_transport.GrpcStatusError
            if code is not None:
                hint = (
                    " (wrong model name, inference key or input?)"
                    if code.name in GRPC_SETUP_MISTAKES
                    else " (nothing listening there, or the server refused the call)"
                )
                raise LoadError(f"{url}: gRPC {exc} on the first request{hint}") from None
            raise LoadError(f"{url}: nothing answered the first request ({type(exc).__name__}: {exc})") from None
        # A 4xx (other than 429 Too Many Requests) on the first request is a set-up mistake
        # (wrong model name, key or body format): every request of the run would fail the same.
        if 400 <= status < 500 and status != 429:
            raise LoadError(
                f"{url}: HTTP {status} on the first request (wrong model name, inference key or input?): "
                f"{error_message(body)}"
            )
    finally:
        await close_all(transports)


def _run(coro_fn, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress, mode: str) -> LoadResult:
    return analyze(run_raw(coro_fn, endpoint, payloads, config, on_progress), endpoint, payloads, config, mode)


def run_raw(coro_fn, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress) -> RawRun:
    """Preflight + one timing loop (closed_loop or open_loop) on its own event loop: the raw
    records, before any statistics (the distributed client analyses them inside each actor)."""

    async def main():
        if config.preflight:
            await preflight(endpoint, payloads, config)
        return await coro_fn(payloads, config, on_progress)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise LoadError(
            "the load client's sync API was called inside a running event loop; "
            "await clients.closed_loop.closed_loop / clients.open_loop.open_loop instead"
        )
    with collector_paused(), asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main())


def run_closed_loop(
    endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress: ProgressFn | None = None
) -> LoadResult:
    """config.concurrency workers, each sending its next request when the last one completed."""
    return _run(closed_loop, endpoint, payloads, config, on_progress, "closed")


def sweep_concurrency(
    endpoint: Endpoint,
    payloads: Payloads,
    config: LoadConfig,
    levels: Iterable[int] = DEFAULT_CONCURRENCY,
    on_progress: ProgressFn | None = None,
    on_result: Callable[[LoadResult], None] | None = None,
    run: Callable[..., LoadResult] | None = None,
) -> list[LoadResult]:
    """One closed-loop run per concurrency level, in the order given. `run` replaces
    run_closed_loop (same signature), e.g. by a distributed.ClientPool's run_closed."""
    run = run or run_closed_loop
    levels = list(levels)
    if not levels:
        raise ConfigError("concurrency levels must not be empty")
    results = []
    for level in levels:
        result = run(endpoint, payloads, dataclasses.replace(config, concurrency=level), on_progress)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def run_open_loop(
    endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress: ProgressFn | None = None
) -> LoadResult:
    """Arrivals at config.rate_rps (poisson/constant, seeded); latency from the scheduled time."""
    if config.rate_rps is None:
        raise ConfigError("LoadConfig.rate_rps is required for an open-loop run")
    return _run(open_loop, endpoint, payloads, config, on_progress, "open")
