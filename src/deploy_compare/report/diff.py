"""Compare two runs figure by figure and flag regressions beyond the noise of both runs.

Before any figure: two runs are comparable only when both are complete, of the same model
and the same profile; otherwise diff_runs raises IncomparableRunsError naming why (with
force=True it compares anyway and says so at the top).

Figures: in-process p50 and samples/s per batch size; per served target and concurrency p50,
p99, p99 with failures counted, throughput, and at c=1 the server's CPU ms per request; the
SLO rate at every request batch size, the tune stage's best rate (measured once: the
tolerance rule), and the cold start (launch to first inference).

Regressions:
- latency up, throughput or sustainable rate down, shown by intervals (rule 'interval'):
  both figures carry a 95% interval (repeats.figure_interval: a t-interval over three or
  more repetitions, else the samples' own order-statistic intervals) and confidence.compare
  finds them apart AND the gap at least [report] min_effect; otherwise the row is "tied".
  Figures without intervals (throughput, older records) keep the older rules: where both runs have
  two or more repetitions of a figure (served points, and in-process rows: `run --repeat`
  runs the in-process stage once per repetition too), the noise is the sum of both runs'
  ranges (min-max): the medians must move apart by more than that. With one repetition in
  either run there is no measured spread, and a tolerance stands in for it: B worse by more
  than the factor 1 + tolerance (DEFAULT_TOLERANCE: 4x, above the drift measured between
  default runs of the same code on one 2-core VM, docs/configuration.md). A tail figure (a
  level's p99) of one repetition is not judged: the same drift moved them up to 6x; the SLO
  rate is the tail's decision figure. The report says which rule each row used;
- a figure present in A and missing in B (OK -> missing), a target or local row OK in A
  and anything else in B, a p99 (failures counted) that became unbounded;
- accuracy down by more than ACCURACY_POINTS.
Sizes are shown but never flagged (a different export is not worse).
The library returns the verdict; only the command turns it into an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..confidence import Interval, compare
from ..deploy.report_settings import min_effect
from ..deploy.results import RunResults, ServedResult
from ..errors import ConfigError, IncomparableRunsError
from ..repeats import (
    Spread,
    bench_repetitions,
    by_concurrency,
    figure_interval,
    repetitions,
    spread_of,
    throughput_spread,
)
from .fmt import get, getf
from .names import local_rows, ok_local, sweep_repetitions

ACCURACY_POINTS = 0.5  # a drop of more than half a point of accuracy is a regression
LOWER, HIGHER, INFO, POINTS, STATUS = "lower", "higher", "info", "points", "status"  # which direction is better
UNBOUNDED = "unbounded"  # p99 with failures counted, when over 1% of requests failed
SPREAD, TOLERANCE, INTERVAL = "spread", "tolerance", "interval"  # the rule a numeric row was judged by
UNJUDGED_TAIL = "tail, once"  # a level's p99 in a run of one repetition: shown, not judged
LOWER_BOUND = "lower bound"  # an SLO rate its client limited, below the other run's: not judged
# Four default runs of the same code on one 2-core VM (digits model, 12-14 minutes each, two
# pairs in a row): between any two, a figure measured once moved up to 3.7x (in-process
# samples/s; SLO rates up to 3.2x, served p50s up to 2.7x) and a level's p99 up to 6.4x. One
# repetition cannot tell a change smaller than a factor 4 from that drift.
DEFAULT_TOLERANCE = 3.0
MIN_INTERVAL_REPETITIONS = 3  # a t-interval over fewer repetitions is too wide, or (two) not a 95% one
WORSE, BETTER, TIED, OTHER = "worse", "better", "tied", "other"  # DiffRow.outcome


@dataclass(frozen=True)
class Figure:
    key: str  # what was measured, e.g. "served torchserve c=4 p99_ms"
    value: Spread | str | None  # the repetitions of a number; a status or UNBOUNDED; None: not measured
    better: str  # LOWER | HIGHER | INFO | POINTS | STATUS
    interval: Interval | None = None  # where it may lie (95%); None: the older rules judge it
    tail: bool = False  # a level's p99: judged only by repetitions (UNJUDGED_TAIL)
    lower_bound: bool = False  # an SLO rate where the load client fell behind: the server may do more


@dataclass
class DiffRow:
    key: str
    a: float | str | None  # the median of A's repetitions (or a status)
    b: float | str | None
    change_pct: float | None  # relative change of the medians B vs A; accuracy: change in points
    better: str
    regression: bool
    note: str = ""
    a_range: tuple[float, float] | None = None  # min-max over A's repetitions (two or more)
    b_range: tuple[float, float] | None = None
    rule: str = ""  # INTERVAL, SPREAD, TOLERANCE, UNJUDGED_TAIL or LOWER_BOUND for numeric rows
    improved: bool = False  # better beyond the noise, by the same rule as a regression

    @property
    def outcome(self) -> str:
        """WORSE | BETTER | TIED (moved within the noise) | OTHER (a size, a status, one side missing,
        a tail not judged)."""
        if self.regression:
            return WORSE
        if self.improved:
            return BETTER
        judged = self.rule not in ("", UNJUDGED_TAIL, LOWER_BOUND) or (
            self.better == POINTS and self.change_pct is not None
        )
        return TIED if judged else OTHER


@dataclass
class DiffReport:
    tolerance: float
    rows: list[DiffRow]
    warnings: list[str] = field(default_factory=list)  # said before any row (force=True comparisons)
    a_repetitions: int = 1
    b_repetitions: int = 1
    min_effect: float = 0.05

    @property
    def regressions(self) -> list[DiffRow]:
        return [r for r in self.rows if r.regression]

    @property
    def improvements(self) -> list[DiffRow]:
        return [r for r in self.rows if r.improved]


def _one(value: Any) -> Spread | None:
    return Spread.of([value])


def measured_encodings(s: ServedResult) -> set[str]:
    """The encodings a target's sweeps measured: its headline one and each further OK cell."""
    further = {str(c.get("encoding")) for c in s.encodings if isinstance(c, dict) and c.get("status") == "OK"}
    return {s.encoding or "json"} | further


def _served_figures(s: ServedResult, add, by_encoding: bool) -> None:
    # by_encoding (either run measured several encodings): each sweep is named by its encoding
    # ("served triton [json] c=1"): slo_encoding "best" may pick another one in each run, and the
    # same name must mean the same requests. The headline encoding has every level; the others
    # their lowest and highest.
    _sweep_figures(f"served {s.key}" + (f" [{s.encoding or 'json'}]" if by_encoding else ""), sweep_repetitions(s), add)
    for cell in s.encodings if by_encoding else []:
        if isinstance(cell, dict) and cell.get("status") == "OK":
            points = by_concurrency(p for p in cell.get("sweep") or [] if isinstance(p, dict))
            _sweep_figures(f"served {s.key} [{cell.get('encoding')}]", points, add)
    _search_figures(s, add)


def _sweep_figures(prefix: str, groups: dict[int, list[dict[str, Any]]], add) -> None:
    for concurrency, points in groups.items():
        name = f"{prefix} c={concurrency}"
        add(f"{name} p50_ms", spread_of(points, "p50_ms"), LOWER, figure_interval(points, "p50_ms"))
        add(f"{name} p99_ms", spread_of(points, "p99_ms"), LOWER, figure_interval(points, "p99_ms"), tail=True)
        if any(get(p, "p99_incl_failures_ms") is None and get(p, "requests") for p in points):
            add(f"{name} p99_incl_failures_ms", UNBOUNDED, LOWER)
        else:
            key = "p99_incl_failures_ms"
            add(f"{name} {key}", spread_of(points, key), LOWER, figure_interval(points, key), tail=True)
        add(f"{name} throughput_rps", spread_of(points, "throughput_rps"), HIGHER)
        cpu = Spread.of(getf(p, "server", "cpu_ms_per_request") for p in points)
        if concurrency == 1 and cpu is not None:  # the server's own cost of one request, nothing queued
            add(f"{name} server_cpu_ms_per_request", cpu, LOWER)


def _search_figures(s: ServedResult, add) -> None:
    """The SLO rates (on the encoding each run chose), the cold start and the tune stage."""
    if isinstance(s.slo, dict):
        repeats = [r for r in s.slo_repeats if isinstance(r, dict)] or [s.slo]
        add(f"slo {s.key} max_rate_rps", _rates(repeats), HIGHER, _rate_interval(repeats), lower_bound=_bound(repeats))
    # Each further request batch size: its SLO search once per repetition.
    by_size: dict[int, list[dict[str, Any]]] = {}
    for entry in s.batches:
        if isinstance(entry, dict) and isinstance(entry.get("slo"), dict):
            by_size.setdefault(int(entry.get("batch_size") or 1), []).append(entry["slo"])
    for size, searches in sorted(by_size.items()):
        rates, interval = _rates(searches), _rate_interval(searches)
        add(f"slo {s.key} bs{size} max_rate_rps", rates, HIGHER, interval, lower_bound=_bound(searches))
    # Launch -> first successful inference, once per repetition (each started its own server).
    colds = [c for c in s.cold_start_repeats if isinstance(c, dict)] or ([s.cold_start] if s.cold_start else [])
    first_inference = spread_of(colds, "launch_to_first_inference_s")
    if first_inference is not None:
        add(f"served {s.key} cold_start_first_inference_s", first_inference, LOWER)
    # The tune stage (first repetition only): the best setting's SLO rate; none met the bound: 0.
    if isinstance(s.tuning, dict):
        best = getf(s.tuning, "best", "max_rate_rps")
        add(f"tune {s.key} best max_rate_rps", _one(0.0 if best is None else best), HIGHER)


def _rates(searches: list[dict[str, Any]]) -> Spread | None:
    """The SLO rate over a search's repetitions: one where no rate met the bound sustained 0 req/s."""
    return Spread.of(0.0 if getf(r, "max_rate_rps") is None else getf(r, "max_rate_rps") for r in searches)


def _bound(searches: list[dict[str, Any]]) -> bool:
    """True when the load client limited a search: its rate is what the client drove, not the server's limit."""
    return any(r.get("limited_by_client") for r in searches)


def _rate_interval(searches: list[dict[str, Any]]) -> Interval | None:
    """The SLO rate's interval over three or more repetitions (a rate has no samples of its own)."""
    spread = _rates(searches)
    if spread is None or spread.n < 3:
        return None
    return figure_interval([{"max_rate_rps": v} for v in spread.values], "max_rate_rps")


def figures(results: RunResults, by_encoding: frozenset[str] = frozenset()) -> dict[str, Figure]:
    """Every figure of a run by name; the served targets in `by_encoding` (keys) name their
    sweeps by encoding."""
    out: dict[str, Figure] = {}

    def add(
        key: str,
        value: Spread | str | None,
        better: str,
        interval: Interval | None = None,
        tail: bool = False,
        lower_bound: bool = False,
    ) -> None:
        out[key] = Figure(key, value, better, interval, tail, lower_bound)

    for row in local_rows(results):  # one per artifact/profile/threads, over its repetitions
        name = f"local {get(row, 'artifact')} {get(row, 'profile')} t={get(row, 'threads')}"
        add(f"{name} status", get(row, "status"), STATUS)
        if get(row, "status") != "OK":
            continue
        reps = bench_repetitions(row)  # the OK repetitions: each figure's spread
        add(f"{name} p50_ms", spread_of(reps, "p50_ms"), LOWER, figure_interval(reps, "p50_ms"))
        thr = get(row, "throughput_samples_per_s")
        for batch in sorted(thr if isinstance(thr, dict) else {}, key=int):
            add(f"{name} bs{batch}_samples_per_s", throughput_spread(reps, batch), HIGHER)
    for s in results.served:
        add(f"served {s.key} status", s.status, STATUS)
        if s.status == "OK":
            _served_figures(s, add, s.key in by_encoding)
    for name, entry in sorted(results.artifacts.items()):
        add(f"artifact {name} size_bytes", _one(get(entry, "size_bytes")), INFO)
        accuracy = getf(entry, "parity", "accuracy")
        add(f"artifact {name} accuracy_pct", None if accuracy is None else _one(accuracy * 100), POINTS)
    return out


def _plain(value: Spread | str | None) -> float | str | None:
    return value.median if isinstance(value, Spread) else value


def _range(value: Spread | str | None) -> tuple[float, float] | None:
    return (value.lo, value.hi) if isinstance(value, Spread) and value.n > 1 else None


def _compare(key: str, a: Figure | None, b: Figure | None, tolerance: float, effect: float = 0.05) -> DiffRow:
    present = a or b
    if present is None:
        raise ValueError(f"{key}: in neither run")  # diff_runs only asks for keys of A or B
    better = present.better
    va, vb = (a.value if a else None), (b.value if b else None)
    row = DiffRow(key, _plain(va), _plain(vb), None, better, False, "", _range(va), _range(vb))
    if better == STATUS:
        if va == "OK" and vb != "OK":
            row.regression, row.note = True, f"was OK, now {vb or 'missing'}"
        row.improved = va != "OK" and vb == "OK"
        return row
    if va is None:
        row.note = "only in B" if a is None else "not measured in A"
        return row
    if vb is None:
        # OK -> missing: what A measured, B did not (an INFO figure such as a size is only noted).
        row.regression = better != INFO
        row.note = "OK -> missing" if b is None else "not measured in B"
        return row
    if isinstance(va, str) or isinstance(vb, str):
        row.regression = va != UNBOUNDED and vb == UNBOUNDED
        row.improved = va == UNBOUNDED and vb != UNBOUNDED
        row.note = "now unbounded (over 1% failed)" if row.regression else ("was unbounded" if va == UNBOUNDED else "")
        return row
    if better == POINTS:
        delta = vb.median - va.median
        row.change_pct, row.regression, row.improved = delta, delta < -ACCURACY_POINTS, delta > ACCURACY_POINTS
        row.note = f"accuracy down {-delta:.2f} points" if row.regression else ""
        return row
    if va.median == 0:
        row.note = "A is 0"
        return row
    row.change_pct = (vb.median - va.median) / abs(va.median) * 100
    worse = vb.median - va.median if better == LOWER else va.median - vb.median  # > 0: B is worse
    if better == INFO:
        return row
    # A rate the load client limited is "at least this": below the other run's rate it shows the
    # client, not the server, so B's is no regression and A's no baseline for an improvement.
    low = vb.median < va.median
    if (b is not None and b.lower_bound and low) or (a is not None and a.lower_bound and not low):
        row.rule, row.note = LOWER_BOUND, f"{'B' if low else 'A'}'s load client fell behind: its rate is a lower bound"
        return row
    ia, ib = (a.interval if a else None), (b.interval if b else None)
    # Intervals over repetitions only: one run's samples say nothing of the drift between runs,
    # so a single-repetition figure is judged by the spread or the tolerance below.
    if ia is not None and ib is not None and va.n >= MIN_INTERVAL_REPETITIONS <= vb.n:
        row.rule = INTERVAL
        verdict = compare(ia, ib, va.median, vb.median, effect)
        row.regression = verdict == ("higher" if better == LOWER else "lower")
        row.improved = verdict == ("lower" if better == LOWER else "higher")
        if row.regression:
            row.note = f"{'slower' if better == LOWER else 'lower'}: intervals apart, gap >= {effect:.0%}"
        elif verdict == "tied":
            row.note = "tied"
        return row
    if va.n > 1 and vb.n > 1:
        row.rule = SPREAD
        noise = va.width + vb.width
        row.regression, row.improved = worse > noise, -worse > noise
        if row.regression:
            row.note = f"{'slower' if better == LOWER else 'lower'} by more than both runs' ranges ({noise:.4g})"
    elif present.tail:
        row.rule = UNJUDGED_TAIL
    else:
        row.rule = TOLERANCE
        # A factor, not a difference: a throughput that halves is as far as a latency that doubles.
        new, old = (vb.median, va.median) if better == LOWER else (va.median, vb.median)
        factor = new / old if old > 0 else float("inf")  # > 1: B is worse (a rate down to 0: inf)
        limit = 1 + tolerance
        row.regression, row.improved = factor > limit, factor < 1 / limit
        if row.regression:
            row.note = f"{'slower' if better == LOWER else 'lower'} by more than {limit:g}x (one repetition)"
    return row


def _repetitions(results: RunResults) -> int:
    counts = [repetitions(p for p in s.sweep if isinstance(p, dict)) for s in results.served]
    counts.append(repetitions(r for r in results.local if isinstance(r, dict)))  # the in-process stage's
    return max(counts) or 1


def describe_run(results: RunResults) -> str:
    run = results.run
    state = "complete" if run.complete and not run.interrupted else ("INTERRUPTED" if run.interrupted else "INCOMPLETE")
    model = get(results.model, "name") or "no model (export produced no manifest)"
    return (
        f"run {run.id}: {state}, profile {run.profile}, model {model}, "
        f"{_repetitions(results)} repetition(s), {len([s for s in results.served if s.status == 'OK'])} served OK, "
        f"{len(ok_local(results))} local rows OK"
    )


def incomparable(a: RunResults, b: RunResults) -> list[str]:
    """Why comparing a and b means nothing (empty when they compare)."""
    why = []
    for label, r in (("A", a), ("B", b)):
        if r.run.interrupted or not r.run.complete:
            how = "was interrupted" if r.run.interrupted else "did not finish"
            why.append(f"run {label} ({r.run.id}) {how}: its missing figures would read as regressions or be skipped")
        if r.model is None:
            why.append(f"run {label} ({r.run.id}) has no model: its export produced no manifest")
    if a.model is not None and b.model is not None:
        ids = [(get(m, "name"), get(m, "content_hash")) for m in (a.model, b.model)]
        if ids[0] != ids[1]:
            why.append(f"another model: A measured {ids[0][0]} ({ids[0][1]}), B {ids[1][0]} ({ids[1][1]})")
    if a.run.profile != b.run.profile:
        why.append(
            f"another profile: A is {a.run.profile}, B is {b.run.profile} (other durations and levels: "
            "figures differ by design)"
        )
    # The served keys name target and concurrency: the same key must mean the same requests.
    served_b = {s.key: s for s in b.served}
    for s in a.served:
        wa, wb = _workload(s), (_workload(served_b[s.key]) if s.key in served_b else None)
        if wb is not None and _encoding_moved(s, served_b[s.key]):
            wb = (wa[0], wb[1])  # both measured both encodings: their rows carry the encoding
        if wb is not None and any(x is not None and y is not None and x != y for x, y in zip(wa, wb, strict=True)):
            why.append(
                f"another workload for {s.key}: A sent {wa[0] or 'its encoding'} at {wa[1]} sample(s) "
                f"per request, B {wb[0] or 'its encoding'} at {wb[1]} sample(s) per request"
            )
    return why


def _encoding_moved(a: ServedResult, b: ServedResult) -> bool:
    """True when the two runs searched on other encodings that both measured (slo_encoding
    "best" choosing by each run's own sweeps)."""
    chosen = {a.encoding or "json", b.encoding or "json"}
    return len(chosen) == 2 and chosen <= measured_encodings(a) & measured_encodings(b)


def _workload(s: ServedResult) -> tuple[str | None, int | None]:
    """(encoding, samples per request) of a target's headline sweep and SLO search."""
    sizes = {get(p, "batch_size") for p in s.sweep if isinstance(p, dict)}
    return s.encoding, (sizes.pop() if len(sizes) == 1 else None)


def diff_runs(
    a: RunResults,
    b: RunResults,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    effect: float | None = None,
) -> DiffReport:
    """Raises IncomparableRunsError when the runs do not compare (unless force: then the reasons
    head the report as warnings, and what A measured and B lacks still counts as a regression).
    `effect`: the minimum effect (default: A's [report] min_effect)."""
    effect = min_effect(a.settings) if effect is None else effect
    if not 0 <= tolerance < 10:
        raise ConfigError(f"tolerance must be a share between 0 and 10 (1.0 = a factor 2), got {tolerance}")
    why = incomparable(a, b)
    if why and not force:
        raise IncomparableRunsError("the runs do not compare: " + "; ".join(why) + " (--force compares anyway)")
    several = frozenset(s.key for s in (*a.served, *b.served) if len(measured_encodings(s)) > 1)
    fa, fb = figures(a, several), figures(b, several)
    keys = list(fa) + [k for k in fb if k not in fa]
    rows = [_compare(k, fa.get(k), fb.get(k), tolerance, effect) for k in keys]
    # A status that did not change says nothing; its figures follow on their own rows.
    rows = [r for r in rows if not (r.better == STATUS and r.a == r.b)]
    # A row or target that regressed in status is one regression: its missing figures say why.
    gone = [r.key.removesuffix(" status") + " " for r in rows if r.better == STATUS and r.regression]
    gone += [kind + g.removeprefix("served ") for g in gone if g.startswith("served ") for kind in ("slo ", "tune ")]
    for r in rows:
        if r.better != STATUS and r.regression and r.note == "OK -> missing" and r.key.startswith(tuple(gone)):
            r.regression, r.note = False, "missing (see its status)"
    # An encoding B did not search on has only its lowest and highest levels there: not a loss.
    served_b = {s.key: s for s in b.served}
    for s in a.served:
        if s.key in served_b and _encoding_moved(s, served_b[s.key]):
            moved_to = served_b[s.key].encoding or "json"
            for r in rows:
                if r.regression and r.note == "OK -> missing" and r.key.startswith(f"served {s.key} ["):
                    r.regression, r.note = False, f"not in B: B swept every level on {moved_to}"
    return DiffReport(
        tolerance, rows, [f"compared anyway (--force): {w}" for w in why], _repetitions(a), _repetitions(b), effect
    )


def _value(v: float | str | None, spread: tuple[float, float] | None = None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v

    def fmt(x: float) -> str:
        return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"

    return fmt(v) + (f" ({fmt(spread[0])}-{fmt(spread[1])})" if spread else "")


def change_text(r: DiffRow) -> str:
    """ "+12.5%", "-0.60 pt" (accuracy), "-" when there is no change to compute."""
    if r.change_pct is None:
        return "-"
    return f"{r.change_pct:+.2f} pt" if r.better == POINTS else f"{r.change_pct:+.1f}%"


def value_text(r: DiffRow, side: str) -> str:
    """A's or B's figure: the median and (min-max) over the repetitions."""
    return _value(r.a, r.a_range) if side == "a" else _value(r.b, r.b_range)


def rules_text(report: DiffReport, name_a: str = "A", name_b: str = "B") -> str:
    return (
        f"figures are medians (min-max) over the repetitions ({name_a}: {report.a_repetitions}, "
        f"{name_b}: {report.b_repetitions}); rule '{INTERVAL}': 95% intervals apart and a change of at least "
        f"{report.min_effect:.0%}, else tied; '{SPREAD}': a change beyond the sum of both runs' ranges, "
        f"'{TOLERANCE}' (a run with one repetition): beyond a factor {1 + report.tolerance:g}, "
        f"'{UNJUDGED_TAIL}': a level's p99 in a run of one repetition, shown, not judged; "
        f"'{LOWER_BOUND}': an SLO rate its load client limited, below the other run's, not judged; "
        f"accuracy: {ACCURACY_POINTS} point; OK -> missing always"
    )


def format_diff(report: DiffReport, name_a: str = "A", name_b: str = "B") -> str:
    header = ("figure", name_a, name_b, "change", "rule", "")
    rows = [header]
    for r in report.rows:
        flag = ("REGRESSION" + (f" ({r.note})" if r.note else "")) if r.regression else r.note
        rows.append((r.key, value_text(r, "a"), value_text(r, "b"), change_text(r), r.rule, flag))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"WARNING: {w}" for w in report.warnings]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    table.insert(1, "  ".join("-" * w for w in widths).rstrip())
    lines += table
    n = len(report.regressions)
    lines += ["", rules_text(report, name_a, name_b)]
    lines.append(f"{n} regression(s)" if n else "no regression beyond the noise")
    return "\n".join(lines)
