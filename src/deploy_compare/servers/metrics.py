"""Where a request's time goes, in the server's own words: each stack's metrics endpoint.

A stack declares its scraper in its descriptor (Stack.metrics = "module:function"); the
function takes the running launcher and returns a MetricsSource, or None when this launch
exposes nothing usable. A MetricsSource reads CUMULATIVE counters (Prometheus text):
requests served and the microseconds they spent queued and computing. The monitor reads
them before and after a measured run; the difference divided by the requests served in
between is the mean server-side time per request:

    client mean latency = queue + compute + the rest (network, parsing, serialization)

Means, not percentiles: counters only add up, so the split is compared with the client's
mean latency, never with its p50 or p99.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

SCRAPE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Counters:
    """Cumulative counters at one moment (microseconds)."""

    requests: float
    queue_us: float
    compute_us: float


@dataclass
class ServerSplit:
    """Mean server-side time per request over one measured run, from the stack's counters."""

    source: str  # what was read: "triton /metrics", "torchserve metrics API", ...
    requests: int  # requests the server counted in the window
    queue_ms: float | None  # waiting in the server's queue (batcher, worker pool)
    compute_ms: float | None  # the model's execution as the server times it
    definition: str  # what the stack's queue and compute figures include

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetricsSource:
    """One stack's counters behind one URL; `read` parses a scrape into Counters."""

    def __init__(
        self,
        url: str,
        read: Callable[[dict[str, float]], Counters],
        source: str,
        definition: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.read = read
        self.source = source
        self.definition = definition
        self.headers = dict(headers or {})

    def counters(self) -> Counters:
        response = httpx.get(self.url, headers=self.headers, timeout=SCRAPE_TIMEOUT_S)
        response.raise_for_status()
        return self.read(parse_prometheus(response.text))

    def split(self, before: Counters, after: Counters) -> ServerSplit:
        served = after.requests - before.requests
        per = (lambda us: round(us / served / 1000.0, 4)) if served > 0 else (lambda us: None)
        return ServerSplit(
            source=self.source,
            requests=int(served),
            queue_ms=per(after.queue_us - before.queue_us),
            compute_ms=per(after.compute_us - before.compute_us),
            definition=self.definition,
        )


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value} plus {'name': sum over labels}.

    Enough for counters and gauges: comments skipped, an optional timestamp ignored, the
    label set kept verbatim. The per-name sum lets a reader ignore labels (one model served).
    """
    values: dict[str, float] = {}
    sums: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "}" in line:
            key, _, rest = line.rpartition("}")
            key += "}"
            name = key.split("{", 1)[0]
        else:
            key, _, rest = line.partition(" ")
            name = key
        fields = rest.split()
        if not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        values[key] = value
        sums[name] = sums.get(name, 0.0) + value
    return {**values, **sums}


def total(metrics: dict[str, float], names: Iterable[str]) -> float:
    """Sum of the named metrics (each summed over its labels); a missing one counts 0."""
    return sum(metrics.get(name, 0.0) for name in names)
