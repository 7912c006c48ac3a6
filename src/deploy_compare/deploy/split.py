"""What a served request costs, split: the runtime, the server's queue, and the stack's rest.

At concurrency 1 and the first request batch size, for one served target:

    runtime_ms   the in-process p50 of the same artifact at the same threads (the in-process
                 stage's server-profile row; `run` measures the threads every stack gets)
    queue_ms     the server's own mean queue time per request (its metrics, servers/metrics.py)
    compute_ms   the server's own mean compute time per request; compute - runtime is what its
                 handler or backend adds around the model (handler_ms). TorchServe's compute is
                 the frontend -> Python worker round trip: measured on a busy machine, its handler
                 (parse, model, post; handler.py PHASES_HEADER) is ~0.7 ms of ~6-9 ms there, the
                 rest the Java <-> worker hand-offs, so handler_ms is mostly that round trip
    stack_ms     the rest: client mean - queue - compute (protocol, HTTP, serialization), all
                 means, as the server's view (report/serverview.py split_parts) takes it
    added_ms     what the stack adds per request: client p50 - runtime, the median over the
                 repetitions, with its range (min, max)

Queue and compute are means (the stack's counters only add up), so every difference taken with
them is of means (handler_ms against the in-process mean, stack_ms against the client mean);
added_ms alone is of p50s. On a busy machine a mean carries the outliers a p50 leaves out.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

#: the concurrency the split is taken at: one request in flight, nothing queued behind it
SPLIT_CONCURRENCY = 1


@dataclass(frozen=True)
class ServedSplit:
    artifact: str
    threads: int
    batch_size: int
    client_p50_ms: float
    runtime_ms: float  # in-process p50 (batch 1), or batch / in-process throughput (a larger batch)
    runtime_mean_ms: float  # in-process mean (batch 1; a larger batch: as runtime_ms)
    client_mean_ms: float | None
    queue_ms: float | None
    compute_ms: float | None
    handler_ms: float | None  # compute - in-process mean: the stack's own work inside its compute figure
    stack_ms: float | None  # the rest: client mean - queue - compute (None: the stack has no metrics)
    added_ms: float  # client p50 - runtime, median over the repetitions
    added_range_ms: tuple[float, float]  # (min, max) over the repetitions
    added_each_ms: tuple[float, ...]  # each repetition's, in order (the report's spread)
    repetitions: int
    note: str = "added_ms: client p50 - in-process p50; handler_ms and stack_ms: of means (the server's counters)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def served_threads(result: Any) -> int | None:
    """The intra-op threads the server ran with: its effective setting, else its config's
    thread field, else one per core it was pinned to."""
    from ..servers.registry import stacks

    stack = stacks().get(result.target)
    field = stack.threads_field if stack is not None else None
    value = (result.server_config or {}).get(field) if field else None
    if stack is not None and stack.max_server_cores == 1:
        return 1
    if isinstance(value, int) and value > 0:
        return value
    return len(result.server_cores) if result.server_cores else None


def in_process_ms(
    local: list[dict[str, Any]], artifact: str, threads: int, batch_size: int, key: str = "p50_ms"
) -> float | None:
    """The median over the repetitions of the artifact's server-profile figure at `threads`
    (`key`: p50_ms or mean_ms at batch 1; a larger batch: batch / throughput either way)."""
    figures = []
    for row in local:
        if not isinstance(row, dict) or row.get("status") != "OK":
            continue
        if (row.get("artifact"), row.get("profile"), row.get("threads")) != (artifact, "server", threads):
            continue
        if row.get("device") not in (None, "local"):
            continue
        if batch_size == 1 and isinstance(row.get(key), (int, float)):
            figures.append(float(row[key]))
            continue
        rate = (row.get("throughput_samples_per_s") or {}).get(str(batch_size)) or (
            row.get("throughput_samples_per_s") or {}
        ).get(batch_size)
        if isinstance(rate, (int, float)) and rate > 0:
            figures.append(batch_size / rate * 1000.0)
    return statistics.median(figures) if figures else None


def served_split(result: Any, local: list[dict[str, Any]], batch_size: int = 1) -> ServedSplit | None:
    """The split of `result` (a ServedResult) at concurrency 1, or None when a piece is missing
    (no in-process row at its threads, no concurrency-1 point)."""
    threads = served_threads(result)
    artifact = result.artifact
    if threads is None or not artifact:
        return None
    runtime = in_process_ms(local, artifact, threads, batch_size)
    runtime_mean = in_process_ms(local, artifact, threads, batch_size, "mean_ms") or runtime
    points = [
        p
        for p in result.sweep
        if isinstance(p, dict)
        and p.get("concurrency") == SPLIT_CONCURRENCY
        and isinstance(p.get("p50_ms"), (int, float))
    ]
    if runtime is None or not points:
        return None
    p50s = [p["p50_ms"] for p in points]
    client = statistics.median(p50s)
    queue = _median_of(points, "queue_ms")
    compute = _median_of(points, "compute_ms")
    client_mean = _median_of(points, "mean_ms", top=True)
    added = [p - runtime for p in p50s]
    assert runtime_mean is not None  # runtime is not None
    return ServedSplit(
        artifact=artifact,
        threads=threads,
        batch_size=batch_size,
        client_p50_ms=round(client, 4),
        runtime_ms=round(runtime, 4),
        runtime_mean_ms=round(runtime_mean, 4),
        client_mean_ms=client_mean,
        queue_ms=queue,
        compute_ms=compute,
        handler_ms=None if compute is None else round(compute - runtime_mean, 4),
        stack_ms=None if None in (client_mean, queue, compute) else round(client_mean - queue - compute, 4),  # type: ignore[operator]
        added_ms=round(statistics.median(added), 4),
        added_range_ms=(round(min(added), 4), round(max(added), 4)),
        added_each_ms=tuple(round(a, 4) for a in added),
        repetitions=len(points),
    )


def _median_of(points: list[dict[str, Any]], key: str, top: bool = False) -> float | None:
    """The median over the points of their server split's `key` (`top`: the point's own `key`)."""
    values = []
    for p in points:
        where = p if top else ((p.get("server") or {}).get("split") or {})
        if isinstance(value := where.get(key), (int, float)):
            values.append(value)
    return round(statistics.median(values), 4) if values else None
