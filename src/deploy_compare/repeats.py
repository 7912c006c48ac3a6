"""Repetitions of one measured point: their median and spread, and when two spreads overlap.

`run --repeat N` measures every served point N times (the stacks interleaved: A B A B), and
results.json keeps every repetition (a `repetition` number on each sweep point and SLO trial).
The spread is the range min-max: with the 2-5 repetitions a run can afford, quartiles would
be the range itself. Two figures whose ranges overlap are a tie; the report never ranks them.
Works on results.json dictionaries, so the pipeline, the report and `diff` share it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .confidence import INTERVAL_CONFIDENCE, Interval, mean_interval


def finite(value: Any) -> float | None:
    """A finite float, else None (bools, None, text and NaN/inf are not figures)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Spread:
    """The repetitions of one figure (at least one value)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[Any]) -> Spread | None:
        kept = tuple(v for v in (finite(x) for x in values) if v is not None)
        return cls(kept) if kept else None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    @property
    def width(self) -> float:
        return self.hi - self.lo

    def overlaps(self, other: Spread) -> bool:
        return self.lo <= other.hi and other.lo <= self.hi

    def text(self, fmt: Callable[[Any], str]) -> str:
        """ "2.45 (2.40-2.61)": median (min-max) over the repetitions; one value (or equal ones) alone."""
        if self.n == 1 or self.lo == self.hi:
            return fmt(self.values[0])
        return f"{fmt(self.median)} ({fmt(self.lo)}-{fmt(self.hi)})"


def repetition(point: dict[str, Any]) -> int:
    """A sweep point's or trial's repetition number (runs from before --repeat: 1)."""
    value = point.get("repetition")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def repetitions(points: Iterable[dict[str, Any]]) -> int:
    return len({repetition(p) for p in points})


def by_concurrency(points: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Closed-loop points grouped by concurrency (ascending), each group by repetition."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for p in points:
        c = finite(p.get("concurrency"))
        if c is not None:
            groups.setdefault(int(c), []).append(p)
    return {c: sorted(groups[c], key=repetition) for c in sorted(groups)}


def spread_of(points: Iterable[dict[str, Any]], key: str) -> Spread | None:
    return Spread.of(p.get(key) for p in points)


def ci_hull(points: Iterable[dict[str, Any]], key: str) -> Interval | None:
    """The hull of the repetitions' own 95% intervals of a percentile (<key>_ci_ms, e.g.
    p50_ci_ms): every repetition's interval lies within it; an end any of them could not
    bound is None. None when a repetition recorded no interval (older records)."""
    points = [p for p in points if isinstance(p, dict)]
    cis = [p.get(key.removesuffix("_ms") + "_ci_ms") for p in points]
    pairs = [ci for ci in cis if isinstance(ci, list) and len(ci) == 2]
    if not points or len(pairs) < len(cis):
        return None
    lows, highs = [finite(ci[0]) for ci in pairs], [finite(ci[1]) for ci in pairs]
    return Interval(
        None if None in lows else min(v for v in lows if v is not None),
        None if None in highs else max(v for v in highs if v is not None),
        INTERVAL_CONFIDENCE,
    )


def figure_interval(points: Iterable[dict[str, Any]], key: str) -> Interval | None:
    """Where a figure over its repetitions may lie (95%), for ties (confidence.compare):
    three or more repetitions: Student's t interval of their mean; fewer: the hull of the
    samples' own intervals (ci_hull) where recorded, else the range of two repetitions;
    None for one value without an interval of its own (the caller's fallback rule applies)."""
    points = [p for p in points if isinstance(p, dict)]
    values = [v for v in (finite(p.get(key)) for p in points) if v is not None]
    if len(values) >= 3:
        return mean_interval(values)
    hull = ci_hull(points, key) if values else None
    if hull is not None:
        return hull
    if len(values) == 2:
        return Interval(min(values), max(values), INTERVAL_CONFIDENCE)
    return None


def median_point(points: list[dict[str, Any]]) -> dict[str, Any]:
    """One point standing for its repetitions: the first one's fields, each number replaced by
    the median over the repetitions (for plots and one-line summaries)."""
    merged = _median_fields(points)
    merged["repetitions"] = len(points)
    return merged


def _median_fields(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The first point's fields, each number the median over the points; nested tables (the
    server's view: CPU ms/request, RSS, its queue/compute split) the same, key by key."""
    merged = dict(points[0])
    for key, value in points[0].items():
        if key == "repetition":
            continue
        if isinstance(value, dict):
            nested = [p[key] for p in points if isinstance(p.get(key), dict)]
            merged[key] = _median_fields(nested)
        elif finite(value) is not None:
            spread = spread_of(points, key)
            if spread is not None and spread.lo != spread.hi:  # equal values keep their type (concurrency)
                merged[key] = spread.median
    return merged


def combine_slo(repeats: list[dict[str, Any]], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The SLO search over its repetitions, shaped like one SloResult dictionary (max_rate_rps is
    the median of the repetitions' rates, trials are all of them, each with its repetition) plus
    the spread: rate_min/max_rps, and the widest bracket [rate_min_rps, bracket_high_rps)."""
    if not repeats:
        raise ValueError("combine_slo needs at least one repetition")
    passes = [finite(r.get("max_rate_rps")) for r in repeats]
    fails = [finite(r.get("lowest_failing_rate_rps")) for r in repeats]
    # A repetition where no rate met the bound sustained 0 req/s within it.
    rates = Spread.of(0.0 if p is None else p for p in passes)
    assert rates is not None  # one value per repetition
    found = [p for p in passes if p is not None]
    fail_spread = Spread.of(fails)
    confirmations = [r.get("confirmed") for r in repeats]
    notes = [str(r.get("note") or "") for r in repeats]
    if len(repeats) == 1:
        note = notes[0]
    else:
        note = "; ".join(f"repetition {repetition(r)}: {n}" for r, n in zip(repeats, notes) if n)
    return {
        "p99_bound_ms": repeats[0].get("p99_bound_ms"),
        "confidence": repeats[0].get("confidence"),
        "max_rate_rps": rates.median if found else None,
        # the t-interval of the mean rate over repetitions (report/verdicts.py compares by it)
        "rate_ci_rps": mean_interval([0.0 if p is None else p for p in passes], floor=0.0).as_list() if found else None,
        "lowest_failing_rate_rps": fail_spread.median if fail_spread else None,
        "limited_by_client": any(bool(r.get("limited_by_client")) for r in repeats),
        "confirmed": None if all(c is None for c in confirmations) else all(c is True for c in confirmations),
        "repetitions": len(repeats),
        "rate_min_rps": rates.lo if found else None,  # also the bracket's low end
        "rate_max_rps": rates.hi if found else None,
        # The bracket's high end: None when some repetition found a rate and never failed (the
        # highest rate allowed passed); a repetition with neither ran no trial (one request at a
        # time was already over the bound: clients/slo.py) and bounds nothing.
        "bracket_high_rps": None
        if any(f is None and p is not None for p, f in zip(passes, fails, strict=True))
        else max((f for f in fails if f is not None), default=None),
        "note": note,
        "trials": trials,
    }


# -- in-process rows (bench_local.BenchResult dictionaries) ------------------------------------
# `run --repeat N` runs the in-process stage N times (interleaved with the served stages) and
# results.json keeps every row with its `repetition`. Views and `diff` see one row per
# (artifact, profile, threads, device): combine_bench's median over the OK repetitions.

#: on a combined row: the repetitions it stands for (the OK ones; all of them when none was OK)
REPETITION_ROWS = "repetition_rows"


def bench_key(row: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """What one in-process row measures: (artifact, profile, threads, device)."""
    return (row.get("artifact"), row.get("profile"), row.get("threads"), row.get("device") or "local")


def by_bench_key(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """In-process rows grouped by bench_key, in order of first appearance, each group by repetition."""
    groups: dict[tuple[Any, Any, Any, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(bench_key(row), []).append(row)
    return [sorted(group, key=repetition) for group in groups.values()]


def combine_bench(group: list[dict[str, Any]]) -> dict[str, Any]:
    """One in-process row standing for its repetitions: the figures are medians over the OK
    repetitions (median_point), `repetitions` counts them and REPETITION_ROWS holds them (for
    spreads). A repetition that FAILED (or was SKIPPED) beside OK ones loses no figure: its
    failure is said in `reason` and `notes`. With no OK repetition: the first row as it was."""
    if not group:
        raise ValueError("combine_bench needs at least one row")
    ok = [r for r in group if r.get("status") == "OK"]
    if not ok:
        merged = dict(group[0])
        merged["repetitions"] = len(group)
        merged[REPETITION_ROWS] = list(group)
        return merged
    merged = median_point(ok)
    merged["notes"] = list(dict.fromkeys(n for r in ok for n in r.get("notes") or []))
    merged[REPETITION_ROWS] = ok
    lost = [r for r in group if r.get("status") != "OK"]
    if lost:
        said = "; ".join(f"repetition {repetition(r)} {r.get('status')}: {r.get('reason') or '?'}" for r in lost)
        merged["reason"] = f"{said} (figures: median of the {len(ok)} OK of {len(group)} repetitions)"
        merged["notes"].append(merged["reason"])
    return merged


def combined_bench_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every in-process (artifact, profile, threads, device) once, combined over its repetitions."""
    return [combine_bench(group) for group in by_bench_key(r for r in rows if isinstance(r, dict))]


def bench_repetitions(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The repetitions a combined row stands for (a plain row: itself)."""
    rows = row.get(REPETITION_ROWS)
    return rows if isinstance(rows, list) and rows else [row]


def throughput_spread(rows: Iterable[dict[str, Any]], batch: int | str) -> Spread | None:
    """samples/s at one batch size over in-process repetitions (throughput_samples_per_s keys
    are strings in results.json, ints in a BenchResult)."""
    values = []
    for r in rows:
        thr = r.get("throughput_samples_per_s")
        if isinstance(thr, dict):
            values.append(thr.get(str(batch), thr.get(int(batch))))
    return Spread.of(values)
