"""How sure a report figure is, said one way everywhere: a confidence interval where the results
carry one, else the range (min-max) over the repetitions, else "measured once".

Intervals are read from the result dictionaries, under any of the keys a percentile's
interval may be recorded as (`p50_ci_ms`, `p50_ms_ci`, `intervals: {p50_ms: [low, high]}`),
with an end the samples could not bound recorded as None and shown as "unbounded". Where no
interval is recorded, the repetitions' range stands in (repeats.Spread), as the verdicts do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..repeats import finite, spread_of
from .fmt import get

INTERVAL, RANGE, ONCE = "interval", "range", "once"
DEFAULT_CONFIDENCE = 0.95


def interval_of(d: Any, key: str) -> tuple[float | None, float | None] | None:
    """The recorded interval of d[key] as (low, high), an end None when unbounded; None when
    the dictionary records none."""
    stem = key.removesuffix("_ms")
    for found in (
        get(d, f"{stem}_ci_ms"),
        get(d, f"{key}_ci"),
        get(d, "intervals", key),
        get(d, "interval", key),
    ):
        if isinstance(found, (list, tuple)) and len(found) == 2:
            return finite(found[0]), finite(found[1])
        if isinstance(found, dict) and ("low" in found or "high" in found):
            return finite(found.get("low")), finite(found.get("high"))
    return None


@dataclass(frozen=True)
class Estimate:
    """A figure and how sure it is: its interval, its range over repetitions, or neither."""

    value: float
    low: float | None = None
    high: float | None = None
    how: str = ONCE  # INTERVAL | RANGE | ONCE
    n: int = 1  # repetitions
    confidence: float | None = None  # INTERVAL only

    def text(self, fmt: Callable[[Any], str]) -> str:
        """ "95% interval 1.10-1.32", "range 1.10-1.32 over 3 repetitions", "measured once"."""
        if self.how == INTERVAL:
            low = "unbounded" if self.low is None else fmt(self.low)
            high = "unbounded" if self.high is None else fmt(self.high)
            return f"{(self.confidence or DEFAULT_CONFIDENCE):.0%} interval {low}-{high}"
        if self.how == RANGE:
            return f"range {fmt(self.low)}-{fmt(self.high)} over {self.n} repetitions"
        return "measured once"


def estimate(points: list[dict[str, Any]], key: str) -> Estimate | None:
    """points[*][key] as one Estimate: the median over the repetitions with the recorded interval
    (one repetition that carries one), else their range; None when no point has the figure."""
    spread = spread_of(points, key)
    if spread is None:
        return None
    interval = interval_of(points[0], key) if len(points) == 1 else None
    if interval is not None:
        confidence = finite(get(points[0], "confidence")) or DEFAULT_CONFIDENCE
        return Estimate(spread.median, interval[0], interval[1], INTERVAL, 1, confidence)
    if spread.n > 1:
        return Estimate(spread.median, spread.lo, spread.hi, RANGE, spread.n)
    return Estimate(spread.median)
