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
from ..errors import ConfigError
from ..repeats import Spread, bench_repetitions, by_concurrency, figure_interval, spread_of
from .encodings import cells
from .fmt import get, getf, kib, ms, num, pct
from .names import (
    QUANTIZED_VARIANTS,
    artifact_accuracy,
    footprint_row,
    local_label,
    lowest_rate_trials,
    ok_local,
    reference_accuracy,
    runtime_name,
    slo_bracket,
    stack_name,
    sweep_repetitions,
    target_label,
    tflite_artifacts,
)
from .quantization import loss_text
from .serverview import MILLION, CostSettings, cost_settings, efficiency, money
from .uncertainty import INTERVAL, Estimate, estimate, interval_of

# A figure measured once has no spread of its own: within this share of each other, two such
# figures are called a tie (the same fallback `diff` uses for single-repetition runs).
SINGLE_RUN_TOLERANCE = 0.10
TIED = "tied within measurement resolution"


@dataclass(frozen=True)
class Candidate:
    """One path a verdict ranked: what it is (stack, runtime, encoding; or runtime and artifact)
    and its figure with how sure it is. The report's first screen shows the leader and the next."""

    name: str  # target or artifact name (Verdict.winner / tied)
    label: str  # the short label (names.target_label), with the encoding where several were measured
    path: tuple[tuple[str, str], ...]  # (role, value): ("stack", "Triton"), ("runtime", ...), ("encoding", ...)
    figure: str  # "p50 1.23 ms", "6,129.5 req/s", "15.1 KiB file"
    uncertainty: str  # "range 1.10-1.32 over 3 repetitions", "bracket [550, 600)", "measured once"
    value: float  # the figure ranked (Verdict.better says which way is better)


@dataclass
class Verdict:
    # runtime | stack_overhead | throughput | serving_latency | inprocess_latency | cost | footprint | accuracy
    key: str
    question: str
    answer: str  # one sentence naming the winner (or the tie) with its figures
    winner: str | None  # artifact or target name; None when nothing could be measured, or a tie
    details: list[str] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)  # every name in a tie (the leader first)
    ranked: list[Candidate] = field(default_factory=list)  # best first; only what was ranked
    better: str = "lower"  # lower | higher: which way `Candidate.value` is better


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


def common_concurrency(served: list[ServedResult]) -> int | None:
    """The lowest concurrency every measured stack has (1 when all have it); None: none shared."""
    levels = [set(sweep_repetitions(s)) for s in served]
    common = set.intersection(*levels) if levels else set()
    return min(common) if common else None


def served_path(s: ServedResult, encoding: str | None) -> tuple[tuple[str, str], ...]:
    """A served stack's path as the first screen spells it: stack, runtime, encoding."""
    return (("stack", stack_name(s.target)), ("runtime", runtime_name(s.artifact)), ("encoding", encoding or "json"))


def _encoding_points(s: ServedResult, c: int) -> list[tuple[str, list[dict]]]:
    """(encoding, its closed-loop points at concurrency c) of every encoding measured OK."""
    out = []
    for cell in cells(s):
        points = by_concurrency(p for p in cell.get("sweep") or [] if isinstance(p, dict)).get(c)
        if cell.get("status") == "OK" and points:
            out.append((str(cell.get("encoding") or "json"), points))
    return out


def _latency_entry(s: ServedResult, encoding: str, points: list[dict], several: bool, details: list[str]):
    """One (stack, encoding) at one concurrency: its detail line, and its candidate unless the
    client was the bottleneck (None: not ranked)."""
    p50, p99 = spread_of(points, "p50_ms"), spread_of(points, "p99_incl_failures_ms")
    unbounded = any(get(p, "p99_incl_failures_ms") is None for p in points)
    bound = any(get(p, "client_bottleneck") for p in points)
    label = f"{target_label(s)} over {encoding}" if several else target_label(s)
    details.append(
        f"{label} serving {s.artifact or '?'}: p50 {_ms_spread(p50)} ms, p99 with failures counted "
        + ("unbounded (over 1% failed)" if unbounded else f"{_ms_spread(p99)} ms")
        + f" ({len(points)} repetition{'s' if len(points) != 1 else ''})"
        + ("; the load client was the bottleneck: not ranked" if bound else "")
        + "."
    )
    if bound or p50 is None:
        return None
    est = estimate(points, "p50_ms")
    assert est is not None  # p50 is not None
    candidate = Candidate(s.key, label, served_path(s, encoding), f"p50 {ms(est.value)} ms", est.text(ms), p50.median)
    return (f"{s.key}{ENCODING_MARK}{encoding}", label, p50), candidate


ENCODING_MARK = "@"  # a ranked entry's name: the served key, this mark, the encoding


def _served_key(name: str) -> str:
    """The served target's key of a ranked latency entry's name."""
    return name.split(ENCODING_MARK, 1)[0]


def serving_latency_verdict(results: RunResults) -> Verdict:
    """Served stacks only, all at the same concurrency: an in-process path never answers this.
    Every encoding a stack was measured with is a path of its own (stack, runtime, encoding)."""
    question = "Lowest latency through a serving stack"
    measured = [s for s in results.served if s.status == "OK" and sweep_repetitions(s)]
    if not measured:
        why = _not_run(results.served) or "no served target in this run"
        return Verdict("serving_latency", question, f"No served stack measured a latency: {why}.", None)
    c = common_concurrency(measured)
    if c is None:
        lowest = "; ".join(f"{target_label(s)} from c={min(sweep_repetitions(s))}" for s in measured)
        return Verdict(
            "serving_latency",
            question,
            f"Not compared: the served stacks share no concurrency level ({lowest}).",
            None,
        )
    details: list[str] = []
    entries = []
    intervals: dict[str, Interval | None] = {}
    for s in measured:
        measured_encodings = _encoding_points(s, c)
        for encoding, points in measured_encodings:
            entry = _latency_entry(s, encoding, points, len(measured_encodings) > 1, details)
            if entry is not None:
                entries.append(entry)
                intervals[entry[0][0]] = figure_interval(points, "p50_ms")
    where = f"at concurrency {c} (closed loop)"
    if not entries:
        return Verdict(
            "serving_latency", question, f"No served stack could be ranked {where}: see the details.", None, details
        )
    named = [e[0] for e in entries]
    effect = min_effect(results.settings)
    usable = all(intervals.get(name) is not None for name, _, _ in named)
    details.append(_uncertainty([e[2] for e in named], "Served p50", effect if usable else None))
    skipped = _not_run(results.served)
    if skipped:
        details.append(f"Not compared: {skipped}.")
    best, tied = _rank(named, intervals, effect)
    ranked = [candidate for _, candidate in sorted(entries, key=lambda e: (e[0][2].median, e[0][0]))]
    stacks_tied = list(dict.fromkeys(_served_key(name) for name, _, _ in tied))
    if len(stacks_tied) > 1:
        figures = ", ".join(f"{label} p50 {_ms_spread(sp)} ms" for _, label, sp in tied)
        answer = f"{_and([label for _, label, _ in tied])} are {TIED} {where}: {figures}."
        return Verdict("serving_latency", question, answer, None, details, stacks_tied, ranked)
    only = " - the only served stack measured" if len(measured) == 1 and len(results.served) > 1 else ""
    answer = f"{best[1]}, p50 {_ms_spread(best[2])} ms {where}{only}."
    return Verdict("serving_latency", question, answer, _served_key(best[0]), details, [], ranked)


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
class SloRate:
    """One stack's SLO answer: the rate (median over repetitions), the range it may lie in
    [low, high) (high None: no rate failed), and whether it is only a lower bound."""

    s: ServedResult
    rate: float
    low: float
    high: float | None
    lower_bound: bool
    confirmed: bool | None
    repetitions: int

    def overlaps(self, other: SloRate) -> bool:
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

    def candidate(self) -> Candidate:
        """The first screen's view: the rate, and its bracket (and range over repetitions)."""
        lo, hi = getf(self.s.slo, "rate_min_rps"), getf(self.s.slo, "rate_max_rps")
        spread = (
            f"; range {num(lo)}-{num(hi)} over {self.repetitions} repetitions"
            if self.repetitions > 1 and lo is not None and hi is not None
            else ""
        )
        sure = {True: "; confirmed by a repeat", False: "; NOT confirmed by a repeat", None: ""}[self.confirmed]
        why = "; client-limited: a lower bound" if self.lower_bound else ""
        return Candidate(
            self.s.key,
            target_label(self.s),
            served_path(self.s, self.s.encoding),
            # no rate failed (the cap, or the trial budget, ended the search): the limit is higher
            f"{'at least ' if self.lower_bound or self.high is None else ''}{num(self.rate)} req/s",
            f"bracket {slo_bracket(self.s.slo)}{spread}{sure}{why}",
            self.rate,
        )


def rate_of(s: ServedResult) -> SloRate | None:
    """A stack's SLO answer with its band (None: no rate met the bound)."""
    rate = getf(s.slo, "max_rate_rps")
    if rate is None:
        return None
    repeated = isinstance(s.slo, dict) and "repetitions" in s.slo
    low = getf(s.slo, "rate_min_rps" if repeated else "max_rate_rps")
    high = getf(s.slo, "bracket_high_rps" if repeated else "lowest_failing_rate_rps")
    return SloRate(
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
    rates: list[SloRate] = []
    for s in searched:
        r = rate_of(s)
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
        answer = f"No served target showed {claim} at any rate tried."
        return Verdict("throughput", question, answer + _closest_miss(searched), None, details)
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
    best = max(measured, key=lambda r: (r.rate, r.s.key))
    # A lower bound beats a measurement only when it lies above the measurement's whole bracket.
    above = [r for r in limited if best.high is not None and r.rate >= best.high]
    ranked = [r.candidate() for r in sorted(measured, key=lambda r: (-r.rate, r.s.key))]
    if above:
        top = max(above, key=lambda r: r.rate)
        answer = (
            f"{target_label(top.s)}, at least {num(top.rate)} req/s {where} - a lower bound (client-limited), "
            f"above the bracket of the best measured stack, {target_label(best.s)} {slo_bracket(best.s.slo)}."
        )
        return Verdict("throughput", question, answer, top.s.key, details, [], [top.candidate(), *ranked], "higher")
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
        return Verdict("throughput", question, answer, None, details, [r.s.key for r in tied], ranked, "higher")
    only = " - the only served stack measured" if len(results.served) > 1 and len(rates) == 1 else ""
    answer = f"{target_label(best.s)}, {best.describe()} {where}{only}."
    return Verdict("throughput", question, answer, best.s.key, details, [], ranked, "higher")


def _closest_miss(searched: list[ServedResult]) -> str:
    """When no stack met the bound: the lowest p99 any stack showed at its lowest rate tried (every
    repetition's trials there), and the setting that decides it. A big model on few cores can miss
    a bound at every rate (MobileNetV2 at 224 on 2 cores: p99 40-70 ms at 22 req/s), and "nothing
    passed" alone does not say by how much. A p99 under the bound there failed only to be shown
    at the confidence asked within the trial's time: longer trials decide it."""
    lowest = []
    for s in searched:
        trials = lowest_rate_trials(s)
        p99 = estimate([get(t, "result") or {} for t in trials], "p99_incl_failures_ms") if trials else None
        if p99 is not None:  # None: unbounded (over 1% failed) - not close
            lowest.append((p99.value, s.key, s, trials, p99))
    if not lowest:
        return ""
    _, _, s, trials, p99 = min(lowest, key=lambda x: (x[0], x[1]))
    bound = getf(s.slo, "p99_bound_ms") or 0.0
    reason = str(get(trials[0], "reason") or "").split(":")[0]
    setting = (
        "a longer trial decides it ([slo] max_duration_s), or a looser bound ([slo] p99_bound_ms, in a --config file)"
        if p99.value <= bound
        else "the bound is [slo] p99_bound_ms (a --config file): set the one this model must meet"
    )
    return (
        f" Closest: {target_label(s)}, p99 {ms(p99.value)} ms ({p99.text(ms)}) at "
        f"{num(getf(trials[0], 'rate_rps'))} req/s, its lowest rate tried"
        + (f" ({reason})" if reason else "")
        + f"; {setting}."
    )


def _cost_entry(s: ServedResult, cost: CostSettings, details: list[str]) -> tuple[Candidate, float, float] | None:
    """A stack's cost per million inferences at its SLO rate, and the band its SLO bracket puts it
    in (cost = the cores given x the price / the rate): (candidate, low, high); None: not priced."""
    r = rate_of(s)
    e = efficiency(s, cost)
    why = (
        "no SLO rate"
        if r is None
        else "its SLO rate is a lower bound (client-limited)"
        if r.lower_bound
        else "no server cores pinned, nothing provisioned to price"
        if e is None or not e.server_cores
        else ""
    )
    if why or r is None or e is None or not e.server_cores:
        details.append(f"{target_label(s)}: not priced ({why}).")
        return None
    per_rate = e.server_cores * cost.price_per_vcpu_hour / 3600.0 * MILLION  # per million at 1 req/s
    value, high = per_rate / r.rate, per_rate / r.low
    low = per_rate / r.high if r.high else 0.0
    band = (
        f"from the SLO bracket {slo_bracket(s.slo)}: {money(low, cost.currency)}-{money(high, cost.currency)}"
        if r.high
        else f"at most {money(high, cost.currency)} (no rate failed: the SLO rate is a lower end)"
    )
    measured = money(e.cost_measured, cost.currency) if e.load == "SLO rate" else "-"
    details.append(
        f"{target_label(s)}: {money(value, cost.currency)} per million at {num(r.rate)} req/s on "
        f"{e.server_cores} core(s); its measured CPU alone: {measured} per million."
    )
    label = target_label(s)
    return Candidate(s.key, label, served_path(s, s.encoding), money(value, cost.currency), band, value), low, high


def cost_verdict(results: RunResults) -> Verdict:
    """The cores each stack was given, priced ([cost]), over its SLO rate: the cheapest stack to
    run at the bound. Bands from the SLO brackets; overlapping bands are a tie."""
    question = "Lowest cost per million inferences"
    try:
        cost = cost_settings(results.settings)
    except ConfigError as exc:
        return Verdict("cost", question, f"Not priced: {exc}.", None)
    details: list[str] = []
    entries = [
        e
        for s in results.served
        if s.status == "OK" and isinstance(s.slo, dict)
        if (e := _cost_entry(s, cost, details))
    ]
    if not entries:
        return Verdict("cost", question, "No stack has an SLO rate to price.", None, details)
    entries.sort(key=lambda e: (e[0].value, e[0].name))
    best = entries[0]
    tied = [e for e in entries if e[1] <= best[2] and best[1] <= e[2]]
    details.append(
        f"Price: {cost.price_per_vcpu_hour:g} {cost.currency} per vCPU-hour ({cost.price_source}); "
        "stacks whose bands overlap are a tie."
    )
    ranked = [e[0] for e in entries]
    where = f"at its SLO rate, on the cores it was given at {cost.price_per_vcpu_hour:g} {cost.currency}/vCPU-hour"
    if len(tied) > 1:
        figures = ", ".join(f"{e[0].label} {e[0].figure}" for e in tied)
        answer = f"{_and([e[0].label for e in tied])} are {TIED}: {figures} per million inferences {where}."
        return Verdict("cost", question, answer, None, details, [e[0].name for e in tied], ranked)
    answer = f"{best[0].label}, {best[0].figure} per million inferences {where}."
    return Verdict("cost", question, answer, best[0].name, details, [], ranked)


def footprint_verdict(results: RunResults) -> Verdict:
    """Judged on the peak resident memory a variant needs (benchmark_model's overall peak), the
    file size breaking ties and standing in only where no row measured memory. A variant over
    its accuracy budget is not a candidate."""
    question = "Smallest on-device footprint"
    variants = {n: e for n, e in tflite_artifacts(results).items() if not get(e, "parity", "over_budget")}
    if not variants:
        failed = "; ".join(f"{k}: {v}" for k, v in sorted(results.export_failures.items()) if k.startswith("tflite"))
        return Verdict(
            "footprint", question, "No TFLite variant was exported" + (f" ({failed})." if failed else "."), None
        )
    details, peaks = [], {}
    for name, entry in variants.items():
        row = footprint_row(results, name)
        peak = getf(row, "peak_rss_mib")
        if peak is not None:
            peaks[name] = peak
        where = f" ({row.get('profile')} profile, threads={row.get('threads')})" if row else ""
        details.append(
            f"{name}: {kib(entry.get('size_bytes'))} KiB file, peak RSS {num(peak, 1)} MiB "
            f"(init {num(getf(row, 'peak_rss_init_mib'), 1)} MiB){where}, accuracy {pct(artifact_accuracy(entry))}."
        )
    sized: dict[str, float] = {k: size for k, e in variants.items() if (size := getf(e, "size_bytes")) is not None}
    if not peaks and not sized:
        return Verdict(
            "footprint", question, "The TFLite variants have no recorded memory or file sizes.", None, details
        )
    if peaks:
        best = min(peaks, key=lambda k: (peaks[k], sized.get(k) or 0, k))
        how = "peak resident memory over the run, file size breaking ties"
    else:
        best = min(sized, key=lambda k: (sized[k], k))
        how = "file size: no row measured peak memory"
        details.append("No local row measured peak memory: judged on file size alone.")
    answer = (
        f"{best}, peak RSS {num(peaks.get(best), 1)} MiB, {kib(sized.get(best))} KiB file, "
        f"accuracy {pct(artifact_accuracy(variants[best]))} (judged on {how})."
    )
    smallest_file = min(sized, key=lambda k: (sized[k], k)) if sized else None
    if smallest_file is not None and smallest_file != best:
        details.insert(0, f"Smallest file: {smallest_file}, {kib(sized[smallest_file])} KiB.")
    # Ranked on one measure: peak memory where any row measured it (a variant without a row is
    # named, not ranked against megabytes by its bytes), else file size.
    measure = peaks if peaks else sized
    unranked = sorted(set(variants) - set(measure))
    if unranked:
        what = "no in-process row measured its memory" if peaks else "no file size recorded"
        details.append(f"Not ranked ({what}): {', '.join(unranked)}.")
    ranked = [
        Candidate(
            name,
            f"{runtime_name(name)} · {name}",
            (("runtime", runtime_name(name)), ("artifact", name), ("runs", "on the device, no server")),
            f"peak RSS {num(peaks.get(name), 1)} MiB, {kib(sized.get(name))} KiB file",
            "peak RSS measured once per row (VmHWM); file size exact",
            float(measure[name]),
        )
        for name in sorted(measure, key=lambda k: (measure[k], sized.get(k) or 0, k))
    ]
    return Verdict("footprint", question, answer, best, details, [], ranked)


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
        over = (
            " OVER ITS ACCURACY BUDGET: a finding, served and shipped nowhere."
            if get(entry, "parity", "over_budget")
            else ""
        )
        details.append(
            f"{name} ({entry.get('variant')}): accuracy {pct(artifact_accuracy(entry), 2)}, "
            f"{'+' if delta >= 0 else ''}{delta:.2f} points (loss {loss_text(entry)}); top-1 agreement with PyTorch "
            f"{pct(getf(entry, 'parity', 'top1_agreement'), 2)}.{over}"
        )
    if samples:
        details.append(f"Measured on {int(samples)} held-out samples: one sample is {100 / samples:.2f} points.")
    worst = min(costs, key=lambda c: (c[1], c[0]))
    ranked = _int8_ranked(results, costs, samples)
    # int8 variants within one sample of the one that loses least are a tie
    resolution = 100 / samples if samples else 0.0
    tied = [c.name for c in ranked if ranked and ranked[0].value - c.value <= resolution] if len(ranked) > 1 else []
    if worst[1] >= 0:
        answer = (
            f"No quantized variant loses accuracy against the fp32 PyTorch reference ({pct(ref, 2)}); "
            f"the lowest is {worst[0]} at {worst[1]:+.2f} points."
        )
    else:
        answer = f"the largest is {worst[0]}, {worst[1]:.2f} points vs the fp32 PyTorch reference ({pct(ref, 2)})."
    return Verdict("accuracy", question, answer, worst[0], details, tied if len(tied) > 1 else [], ranked, "higher")


def _int8_ranked(results: RunResults, costs: list[tuple[str, float]], samples: float | None) -> list[Candidate]:
    """The int8 variants, the one that loses least accuracy first (Candidate.value: the change in
    points, higher is better), each with the resolution its held-out set gives, or its interval."""
    ranked = []
    for name, delta in sorted(costs, key=lambda c: (-c[1], c[0])):
        entry = results.artifacts[name]
        if "int8" not in str(entry.get("variant")):
            continue
        interval = interval_of(get(entry, "parity"), "accuracy_delta_points")
        if interval is not None:
            sure = Estimate(delta, interval[0], interval[1], INTERVAL).text(lambda v: f"{v:+.2f}")
        elif samples:
            sure = f"on {int(samples)} held-out samples: one sample is {100 / samples:.2f} points"
        else:
            sure = "sample count not recorded"
        ranked.append(
            Candidate(
                name,
                f"{runtime_name(name)} · {name}",
                (("runtime", runtime_name(name)), ("artifact", name), ("variant", str(entry.get("variant")))),
                f"accuracy {delta:+.2f} points",  # signed: "+2.70" is a gain over fp32, not a cost
                sure,
                delta,
            )
        )
    return ranked


#: artifact formats that carry a maintenance risk, with the date of the fact (checked when
#: written); a stack's own risk is its descriptor's `maintenance`
MAINTENANCE_NOTES = {
    "torchscript": (
        "TorchScript: deprecated in favour of torch.export from PyTorch 2.11 (the PyTorch docs carry the "
        "deprecation since July 2025); the aoti artifact is the route PyTorch recommends."
    ),
}


def maintenance_notes(*names: str | None) -> list[str]:
    """The notes for the stacks and artifacts named (each once, in order)."""
    from ..servers.registry import stacks

    registered = stacks()
    notes = [registered[n].maintenance if n in registered else MAINTENANCE_NOTES.get(n or "", "") for n in names]
    return list(dict.fromkeys(note for note in notes if note))


def splits(results: RunResults) -> list[tuple[ServedResult, dict]]:
    """The served targets that have a runtime / stack split (deploy/split.py), in run order."""
    return [(s, s.split) for s in results.served if s.status == "OK" and isinstance(s.split, dict)]


def served_threads(results: RunResults) -> int:
    """The intra-op threads the stacks ran with (the splits'; 1 when none says)."""
    threads = [int(getf(split, "threads") or 1) for _, split in splits(results)]
    return max(set(threads), key=threads.count) if threads else 1


def runtime_verdict(results: RunResults) -> Verdict:
    """The fastest runtime for this model: in-process, at the threads the stacks get."""
    threads = served_threads(results)
    question = f"Fastest runtime for this model (in-process, {threads} thread{'s' if threads != 1 else ''}, batch 1)"
    rows = [r for r in ok_local(results, "server") if getf(r, "p50_ms") is not None and r.get("threads") == threads]
    if not rows:
        return Verdict("runtime", question, f"No in-process row at {threads} thread(s) measured a latency.", None)
    named = [(str(r["artifact"]), local_label(r), spread_of(bench_repetitions(r), "p50_ms")) for r in rows]
    ranked = [(k, label, sp) for k, label, sp in named if sp is not None]
    best, tied = _rank(ranked)
    details = [f"{label}: p50 {_ms_spread(sp)} ms." for _, label, sp in sorted(ranked, key=lambda e: e[2].median)]
    details.append(_uncertainty([e[2] for e in ranked], "In-process p50"))
    details += maintenance_notes(*(k for k, _, _ in tied))
    if len(tied) > 1:
        answer = f"{_and([k for k, _, _ in tied])} are {TIED}: " + ", ".join(
            f"{k} p50 {ms(sp.median)} ms" for k, _, sp in tied
        )
        return Verdict("runtime", question, answer + ".", None, details, [k for k, _, _ in tied])
    return Verdict("runtime", question, f"{best[1]}, p50 {_ms_spread(best[2])} ms.", best[0], details)


def _fixed_runtime(results: RunResults) -> tuple[str | None, list[tuple[ServedResult, dict]]]:
    """The artifact served by the most stacks (onnx on a tie), and those stacks' splits."""
    by_artifact: dict[str, list[tuple[ServedResult, dict]]] = {}
    for s, split in splits(results):
        by_artifact.setdefault(str(split.get("artifact")), []).append((s, split))
    if not by_artifact:
        return None, []
    artifact = max(by_artifact, key=lambda a: (len({s.target for s, _ in by_artifact[a]}), a == "onnx", a))
    return artifact, by_artifact[artifact]


def stack_overhead_verdict(results: RunResults) -> Verdict:
    """The stack with the least overhead, the runtime held fixed: served p50 - in-process p50."""
    artifact, group = _fixed_runtime(results)
    question = "Least overhead per request, the runtime held fixed (served p50 - in-process p50, concurrency 1)"
    if artifact is None:
        return Verdict(
            "stack_overhead",
            question,
            "Not measured: no served target has an in-process twin at its threads (see the split table).",
            None,
        )
    named = []
    details = []
    for s, split in group:
        spread = Spread.of(split.get("added_each_ms") or [split.get("added_ms")])
        if spread is None:
            continue
        named.append((s.key, target_label(s), spread))
        details.append(
            f"{target_label(s)}: adds {_ms_spread(spread)} ms to the runtime's {ms(getf(split, 'runtime_ms'))} ms "
            f"(queue {ms(getf(split, 'queue_ms'))}, handler {ms(getf(split, 'handler_ms'))}, "
            f"rest {ms(getf(split, 'stack_ms'))} ms)."
        )
    if not named:
        return Verdict("stack_overhead", question, "No served target has a concurrency-1 split.", None, details)
    best, tied = _rank(named)
    details.append(_uncertainty([e[2] for e in named], f"What each stack adds to {artifact}"))
    details += maintenance_notes(*(s.target for s, _ in group))
    where = f"serving {artifact}"
    if len(tied) > 1:
        answer = f"{_and([label for _, label, _ in tied])} are {TIED} {where}: " + ", ".join(
            f"{label} +{ms(sp.median)} ms" for _, label, sp in tied
        )
        return Verdict("stack_overhead", question, answer + ".", None, details, [k for k, _, _ in tied])
    only = " - the only stack with a split" if len(named) == 1 else ""
    answer = f"{best[1]}, +{_ms_spread(best[2])} ms per request {where}{only}."
    return Verdict("stack_overhead", question, answer, best[0], details)


def best_pair_verdict(results: RunResults) -> Verdict:
    """The best (stack, runtime) pair under the SLO: the throughput verdict over every served
    pair ([run] serve), with the maintenance notes of the pair it names."""
    verdict = throughput_verdict(results)
    verdict.question = "Best stack and runtime pair within the p99 SLO"
    named = [verdict.winner, *verdict.tied]
    served = {s.key: s for s in results.served}
    for key in (n for n in named if n in served):
        verdict.details += maintenance_notes(served[key].target, served[key].artifact)
    verdict.details = list(dict.fromkeys(verdict.details))
    return verdict


def all_verdicts(results: RunResults) -> list[Verdict]:
    return [
        runtime_verdict(results),
        stack_overhead_verdict(results),
        best_pair_verdict(results),
        serving_latency_verdict(results),
        inprocess_latency_verdict(results),  # the throughput verdict is best_pair_verdict's
        cost_verdict(results),
        footprint_verdict(results),
        accuracy_verdict(results),
    ]
