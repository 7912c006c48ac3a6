"""Plain-word answers to the questions a run exists for, each with its figures and uncertainty.

Served stacks are compared with served stacks at one concurrency, in-process paths with
in-process paths. Two latencies differ only when their 95% intervals are apart AND the gap
is at least [report] min_effect (confidence.compare); otherwise they are a tie, named as
such, never a winner. The interval is over repetitions (repeats.figure_interval: a
t-interval from three, else the samples' own order-statistic intervals); a figure without
one falls back to overlapping ranges. A client-limited "at least X" is never ranked as if
it were a measurement.

A pure function of results.json (RunResults): re-rendering a run gives the same words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..clients.results import bound_claim
from ..confidence import Interval, compare
from ..deploy.report_settings import min_effect
from ..deploy.results import RunResults, ServedResult
from ..repeats import Spread, bench_repetitions, figure_interval, spread_of
from .fmt import get, getf, kib, ms, num, pct
from .names import (
    QUANTIZED_VARIANTS,
    artifact_accuracy,
    footprint_row,
    local_label,
    ok_local,
    reference_accuracy,
    slo_bracket,
    sweep_repetitions,
    target_label,
    tflite_artifacts,
)

# A figure measured once has no spread of its own: within this share of each other, two such
# figures are called a tie (the same fallback `diff` uses for single-repetition runs).
SINGLE_RUN_TOLERANCE = 0.10
TIED = "tied within measurement resolution"


@dataclass
class Verdict:
    key: str  # serving_latency | inprocess_latency | throughput | footprint | accuracy
    question: str
    answer: str  # one sentence naming the winner (or the tie) with its figures
    winner: str | None  # artifact or target name; None when nothing could be measured, or a tie
    details: list[str] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)  # every name in a tie (the leader first)


def _not_run(served: list[ServedResult]) -> str:
    parts = [
        f"{target_label(s)} {s.status}" + (f" ({s.reason})" if s.reason else "") for s in served if s.status != "OK"
    ]
    return "; ".join(parts)


def _band(spread: Spread) -> tuple[float, float]:
    """The range a figure may lie in: its repetitions' min-max, or +-SINGLE_RUN_TOLERANCE alone."""
    if spread.n > 1:
        return spread.lo, spread.hi
    v = spread.values[0]
    return v / (1 + SINGLE_RUN_TOLERANCE), v * (1 + SINGLE_RUN_TOLERANCE)


def _bands_overlap(a: Spread, b: Spread) -> bool:
    (alo, ahi), (blo, bhi) = _band(a), _band(b)
    return alo <= bhi and blo <= ahi


def _uncertainty(spreads: list[Spread], what: str, effect: float | None = None) -> str:
    counts = sorted({sp.n for sp in spreads})
    rule = (
        ""
        if effect is None
        else f" Figures differ only when their 95% intervals are apart and the gap is at least {effect:.0%}."
    )
    if counts == [1]:
        if effect is not None:
            return f"{what} measured once (no repetitions): each compared by its samples' own interval.{rule}"
        return (
            f"{what} measured once (no repetitions): figures within {SINGLE_RUN_TOLERANCE:.0%} of each other "
            "are called a tie."
        )
    n = "/".join(str(c) for c in counts)
    if effect is not None:
        return f"{what}: median (min-max) over {n} repetitions.{rule}"
    return f"{what}: median (min-max) over {n} repetitions; overlapping ranges are called a tie."


Named = tuple[str, str, Spread]


def _rank(
    named: list[Named], intervals: dict[str, Interval | None] | None = None, effect: float = 0.0
) -> tuple[Named, list[Named]]:
    """(the lowest median, every entry tied with it, the leader first). With both intervals
    known, an entry ties unless confidence.compare finds it higher (apart AND at least
    `effect` slower); without, unless its band does not overlap the leader's."""
    best = min(named, key=lambda e: (e[2].median, e[0]))
    intervals = intervals or {}

    def tied(e: Named) -> bool:
        a, b = intervals.get(best[0]), intervals.get(e[0])
        if a is not None and b is not None:
            return compare(a, b, best[2].median, e[2].median, effect) != "higher"
        return _bands_overlap(e[2], best[2])

    others = sorted((e for e in named if e is not best and tied(e)), key=lambda e: e[2].median)
    return best, [best, *others]


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _common_concurrency(served: list[ServedResult]) -> tuple[int | None, list[ServedResult]]:
    """The lowest concurrency every measured stack has (1 when all have it), and the stacks lacking it."""
    levels = [set(sweep_repetitions(s)) for s in served]
    common = set.intersection(*levels) if levels else set()
    if not common:
        return None, served
    c = min(common)
    return c, []


def serving_latency_verdict(results: RunResults) -> Verdict:
    """Served stacks only, all at the same concurrency: an in-process path never answers this."""
    question = "Lowest latency through a serving stack"
    measured = [s for s in results.served if s.status == "OK" and sweep_repetitions(s)]
    if not measured:
        why = _not_run(results.served) or "no served target in this run"
        return Verdict("serving_latency", question, f"No served stack measured a latency: {why}.", None)
    c, _ = _common_concurrency(measured)
    if c is None:
        lowest = "; ".join(f"{target_label(s)} from c={min(sweep_repetitions(s))}" for s in measured)
        return Verdict(
            "serving_latency",
            question,
            f"Not compared: the served stacks share no concurrency level ({lowest}).",
            None,
        )
    details, named, client_bound = [], [], []
    intervals: dict[str, Interval | None] = {}
    for s in measured:
        points = sweep_repetitions(s)[c]
        p50, p99 = spread_of(points, "p50_ms"), spread_of(points, "p99_incl_failures_ms")
        intervals[s.target] = figure_interval(points, "p50_ms")
        unbounded = any(get(p, "p99_incl_failures_ms") is None for p in points)
        bound = any(get(p, "client_bottleneck") for p in points)
        details.append(
            f"{target_label(s)} serving {s.artifact or '?'}: p50 {_ms_spread(p50)} ms, p99 with failures counted "
            + ("unbounded (over 1% failed)" if unbounded else f"{_ms_spread(p99)} ms")
            + f" ({len(points)} repetition{'s' if len(points) != 1 else ''})"
            + ("; the load client was the bottleneck: not ranked" if bound else "")
            + "."
        )
        if bound:
            client_bound.append(s)
        elif p50 is not None:
            named.append((s.target, target_label(s), p50))
    where = f"at concurrency {c} (closed loop)"
    if not named:
        return Verdict(
            "serving_latency", question, f"No served stack could be ranked {where}: see the details.", None, details
        )
    effect = min_effect(results.settings)
    usable = all(intervals.get(name) is not None for name, _, _ in named)
    details.append(_uncertainty([e[2] for e in named], "Served p50", effect if usable else None))
    skipped = _not_run(results.served)
    if skipped:
        details.append(f"Not compared: {skipped}.")
    best, tied = _rank(named, intervals, effect)
    if len(tied) > 1:
        figures = ", ".join(f"{label} p50 {_ms_spread(sp)} ms" for _, label, sp in tied)
        answer = f"{_and([label for _, label, _ in tied])} are {TIED} {where}: {figures}."
        return Verdict("serving_latency", question, answer, None, details, [name for name, _, _ in tied])
    only = " - the only served stack measured" if len(named) == 1 and len(results.served) > 1 else ""
    answer = f"{best[1]}, p50 {_ms_spread(best[2])} ms {where}{only}."
    return Verdict("serving_latency", question, answer, best[0], details)


def inprocess_latency_verdict(results: RunResults) -> Verdict:
    """In-process runtimes only (server profile, batch 1): no HTTP, no serialization, no queue."""
    question = "Lowest single-request latency in-process (no server)"
    measured = [r for r in ok_local(results, "server") if getf(r, "p50_ms") is not None]
    if not measured:
        return Verdict("inprocess_latency", question, "No in-process benchmark measured a latency.", None)
    fastest: dict[str, dict] = {}  # per artifact, its thread count with the lowest p50
    for r in measured:
        if r["artifact"] not in fastest or r["p50_ms"] < fastest[r["artifact"]]["p50_ms"]:
            fastest[r["artifact"]] = r
    local = list(fastest.values())
    named = []
    intervals: dict[str, Interval | None] = {}
    for r in local:
        # p50 over the in-process repetitions (`run --repeat`): its median is the row's p50_ms
        spread = spread_of(bench_repetitions(r), "p50_ms")
        assert spread is not None  # filtered above
        key = f"{r.get('artifact')}|{r.get('threads')}"
        named.append((key, local_label(r), spread))
        intervals[key] = figure_interval(bench_repetitions(r), "p50_ms")
    by_key = {f"{r.get('artifact')}|{r.get('threads')}": r for r in local}
    effect = min_effect(results.settings)
    usable = all(v is not None for v in intervals.values())
    best, tied = _rank(named, intervals, effect)
    details = [
        f"{label}: p50 {_ms_spread(sp)} ms, p99 {_ms_spread(spread_of(bench_repetitions(by_key[key]), 'p99_ms'))} ms."
        for key, label, sp in sorted(tied, key=lambda e: e[2].median)
    ]
    details.append(
        _uncertainty([e[2] for e in named], "In-process p50 (server profile, batch 1)", effect if usable else None)
    )
    artifacts = list(dict.fromkeys(by_key[key]["artifact"] for key, _, _ in tied))
    if len(artifacts) > 1:
        figures = ", ".join(f"{label} p50 {ms(sp.median)} ms" for _, label, sp in tied)
        answer = f"{_and(artifacts)} are {TIED}: {figures}."
        return Verdict("inprocess_latency", question, answer, None, details, artifacts)
    row = by_key[best[0]]
    return Verdict("inprocess_latency", question, f"{best[1]}, p50 {_ms_spread(best[2])} ms.", row["artifact"], details)


def _ms_spread(spread: Spread | None) -> str:
    return "-" if spread is None else spread.text(ms)


@dataclass(frozen=True)
class _Rate:
    """One stack's SLO answer: the rate (median over repetitions), the range it may lie in
    [low, high) (high None: no rate failed), and whether it is only a lower bound."""

    s: ServedResult
    rate: float
    low: float
    high: float | None
    lower_bound: bool
    confirmed: bool | None
    repetitions: int

    def overlaps(self, other: _Rate) -> bool:
        return self.low < (other.high or math.inf) and other.low < (self.high or math.inf)

    def describe(self) -> str:
        spread = ""
        lo, hi = getf(self.s.slo, "rate_min_rps"), getf(self.s.slo, "rate_max_rps")
        if self.repetitions > 1 and lo is not None and hi is not None:
            spread = f" (min-max {num(lo)}-{num(hi)} over {self.repetitions} repetitions)"
        confirmed = {True: ", confirmed by a repeat", False: ", NOT confirmed by a repeat", None: ""}[self.confirmed]
        return (
            f"{'at least ' if self.lower_bound else ''}{num(self.rate)} req/s{spread}, bracket {slo_bracket(self.s.slo)}"
            + confirmed
        )


def _rate_of(s: ServedResult) -> _Rate | None:
    rate = getf(s.slo, "max_rate_rps")
    if rate is None:
        return None
    repeated = isinstance(s.slo, dict) and "repetitions" in s.slo
    low = getf(s.slo, "rate_min_rps" if repeated else "max_rate_rps")
    high = getf(s.slo, "bracket_high_rps" if repeated else "lowest_failing_rate_rps")
    return _Rate(
        s,
        rate,
        rate if low is None else low,
        high,
        bool(get(s.slo, "limited_by_client")),
        get(s.slo, "confirmed"),
        int(getf(s.slo, "repetitions") or 1),
    )


def throughput_verdict(results: RunResults) -> Verdict:
    question = "Highest throughput within the p99 SLO"
    searched = [s for s in results.served if s.status == "OK" and isinstance(s.slo, dict)]
    if not searched:
        why = _not_run(results.served) or "no served target in this run"
        return Verdict("throughput", question, f"No served target could run the SLO search: {why}.", None)
    bound = getf(searched[0].slo, "p99_bound_ms")
    # "p99 <= 50 ms at 99% confidence": what each passing trial showed (the sequential rule)
    claim = bound_claim(bound or 0.0, getf(searched[0].slo, "confidence"))
    details = []
    rates: list[_Rate] = []
    for s in searched:
        r = _rate_of(s)
        if r is None:
            details.append(
                f"{target_label(s)}: no rate tried showed {claim} ({get(s.slo, 'note') or 'see the trials'})."
            )
            continue
        rates.append(r)
        details.append(
            f"{target_label(s)}: {r.describe()}"
            + (
                " - the load client was the bottleneck, so this is a lower bound, not a measurement"
                if r.lower_bound
                else ""
            )
            + "."
        )
    details.append(
        "Uncertainty: the bracket [pass, fail) holds the true limit (the search's resolution), widened to the "
        "range over repetitions; stacks whose brackets overlap are a tie."
    )
    skipped = _not_run(results.served)
    if skipped:
        details.append(f"Not compared: {skipped}.")
    if not rates and all(get(s.slo, "limited_by_client") for s in searched):
        return Verdict(
            "throughput",
            question,
            "Not measured: the load client fell behind its schedule for every stack, so no trial measured a "
            "server (a loaded machine; see the notes).",
            None,
            details,
        )
    if not rates:
        return Verdict(
            "throughput",
            question,
            f"No served target showed {claim} at any rate tried.",
            None,
            details,
        )
    where = f"with {claim} (failures counted, open loop)"
    measured = [r for r in rates if not r.lower_bound]
    limited = [r for r in rates if r.lower_bound]
    if not measured:
        lows = ", ".join(f"{target_label(r.s)} at least {num(r.rate)} req/s" for r in limited)
        return Verdict(
            "throughput",
            question,
            f"Not ranked: the load client was the bottleneck for every stack, so each figure is a lower bound ({lows}).",
            None,
            details,
        )
    best = max(measured, key=lambda r: (r.rate, r.s.target))
    # A lower bound beats a measurement only when it lies above the measurement's whole bracket.
    above = [r for r in limited if best.high is not None and r.rate >= best.high]
    if above:
        top = max(above, key=lambda r: r.rate)
        answer = (
            f"{target_label(top.s)}, at least {num(top.rate)} req/s {where} - a lower bound (client-limited), "
            f"above the bracket of the best measured stack, {target_label(best.s)} {slo_bracket(best.s.slo)}."
        )
        return Verdict("throughput", question, answer, top.s.target, details)
    unranked = [r for r in limited if r not in above]
    if unranked:
        details.append(
            "Not ranked (a lower bound inside or below the leader's bracket is not a measurement): "
            + ", ".join(f"{target_label(r.s)} at least {num(r.rate)} req/s" for r in unranked)
            + "."
        )
    tied = [best] + [r for r in measured if r is not best and r.overlaps(best)]
    if len(tied) > 1:
        figures = "; ".join(f"{target_label(r.s)} {r.describe()}" for r in tied)
        answer = f"{_and([target_label(r.s) for r in tied])} are {TIED} {where}: {figures}."
        return Verdict("throughput", question, answer, None, details, [r.s.target for r in tied])
    only = " - the only served stack measured" if len(results.served) > 1 and len(rates) == 1 else ""
    answer = f"{target_label(best.s)}, {best.describe()} {where}{only}."
    return Verdict("throughput", question, answer, best.s.target, details)


def footprint_verdict(results: RunResults) -> Verdict:
    question = "Smallest on-device footprint"
    variants = tflite_artifacts(results)
    if not variants:
        failed = "; ".join(f"{k}: {v}" for k, v in sorted(results.export_failures.items()) if k.startswith("tflite"))
        return Verdict(
            "footprint", question, "No TFLite variant was exported" + (f" ({failed})." if failed else "."), None
        )
    details, rss = [], {}
    for name, entry in variants.items():
        row = footprint_row(results, name)
        growth = getf(row, "rss_growth_mib")
        if growth is not None:
            rss[name] = growth
        where = f" ({row.get('profile')} profile, threads={row.get('threads')})" if row else ""
        details.append(
            f"{name}: {kib(entry.get('size_bytes'))} KiB file, RSS growth "
            f"{num(growth, 2)} MiB{where}, accuracy {pct(artifact_accuracy(entry))}."
        )
    sized = {k: getf(e, "size_bytes") for k, e in variants.items() if getf(e, "size_bytes") is not None}
    if not sized:
        return Verdict("footprint", question, "The TFLite variants have no recorded file sizes.", None, details)
    best = min(sized, key=lambda k: (sized[k], k))
    entry = variants[best]
    growth = rss.get(best)
    answer = (
        f"{best}, {kib(sized[best])} KiB file, RSS growth {num(growth, 2)} MiB, "
        f"accuracy {pct(artifact_accuracy(entry))}."
    )
    if rss:
        least = min(rss, key=lambda k: (rss[k], k))
        if best in rss and rss[least] < rss[best]:
            details.insert(0, f"Smallest RSS growth: {least}, {num(rss[least], 2)} MiB.")
        if all(v == 0 for v in rss.values()):
            details.append(
                "Every variant's RSS growth is recorded as 0 MiB: below what the peak-RSS "
                "measurement resolves, so file size decides."
            )
    return Verdict("footprint", question, answer, best, details)


def accuracy_costs(results: RunResults) -> list[tuple[str, float]]:
    """(artifact, accuracy delta in points vs the fp32 PyTorch reference) for quantized variants."""
    ref = reference_accuracy(results)
    out = []
    for name, entry in sorted(results.artifacts.items()):
        if not isinstance(entry, dict) or entry.get("variant") not in QUANTIZED_VARIANTS:
            continue
        acc = artifact_accuracy(entry)
        own_ref = getf(entry, "parity", "reference_accuracy")
        base = own_ref if own_ref is not None else ref
        if acc is not None and base is not None:
            out.append((name, (acc - base) * 100))
    return out


def accuracy_verdict(results: RunResults) -> Verdict:
    question = "Accuracy cost of each quantized variant"
    ref = reference_accuracy(results)
    costs = accuracy_costs(results)
    if not costs:
        return Verdict("accuracy", question, "No quantized variant has an accuracy figure (no parity data).", None)
    samples = getf(results.model, "eval_samples")
    details = []
    for name, delta in costs:
        entry = results.artifacts[name]
        details.append(
            f"{name} ({entry.get('variant')}): accuracy {pct(artifact_accuracy(entry), 2)}, "
            f"{'+' if delta >= 0 else ''}{delta:.2f} points; top-1 agreement with PyTorch "
            f"{pct(getf(entry, 'parity', 'top1_agreement'), 2)}."
        )
    if samples:
        details.append(f"Measured on {int(samples)} held-out samples: one sample is {100 / samples:.2f} points.")
    worst = min(costs, key=lambda c: (c[1], c[0]))
    if worst[1] >= 0:
        answer = (
            f"No quantized variant loses accuracy against the fp32 PyTorch reference ({pct(ref, 2)}); "
            f"the lowest is {worst[0]} at {worst[1]:+.2f} points."
        )
    else:
        answer = f"the largest is {worst[0]}, {worst[1]:.2f} points vs the fp32 PyTorch reference ({pct(ref, 2)})."
    return Verdict("accuracy", question, answer, worst[0], details)


def all_verdicts(results: RunResults) -> list[Verdict]:
    return [
        serving_latency_verdict(results),
        inprocess_latency_verdict(results),
        throughput_verdict(results),
        footprint_verdict(results),
        accuracy_verdict(results),
    ]
