"""Budgets against a run's figures: each budget PASS, FAIL, or MISSING (the figure is not there).

Figures are the report's own (one place each): local rows combined over repetitions
(names.local_rows), each ingested device's rows, the accuracy drop as the edge section
judges it (edge.quality), the SLO trials and the cost at the SLO rate (serverview). A
device run under emulation has no device timings: its latency budgets are MISSING.
Peak memory is read from a row's peak_memory_mib (or peak_rss_mib) where the results
have one; results without it say MISSING rather than a figure made up from RSS growth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..deploy.gate_settings import ARTIFACT_LIMITS, SERVED_LIMITS, ArtifactBudget, Budget, ServedBudget, parse_budget
from ..errors import ConfigError
from .document import Paragraph, Section, Table
from .edge import emulated, quality
from .fmt import DASH, get, getf, text
from .inputs import ReportInputs
from .names import local_rows, lowest_rate_trials, reference_accuracy, slo_trials, target_label
from .serverview import cost_settings, efficiency

PASS, FAIL, MISSING = "PASS", "FAIL", "MISSING"
#: where a row's peak memory may be (the first present wins)
PEAK_MEMORY_FIELDS = ("peak_memory_mib", "peak_rss_mib")
LATENCY_LIMITS = ("max_p50_ms", "max_p99_ms", "max_invoke_p50_ms", "max_invoke_p99_ms")


@dataclass(frozen=True)
class Check:
    budget: str  # what is bounded, where: "local tflite_int8, edge, 1 thread(s): p99 ms <= 5"
    status: str  # PASS | FAIL | MISSING
    figure: float | None
    detail: str = ""  # why MISSING, or how the figure was found

    def line(self) -> str:
        shown = DASH if self.figure is None else f"{self.figure:.4g}"
        return f"{self.status}: {self.budget} (measured {shown}{'; ' + self.detail if self.detail else ''})"


def _judge(budget: str, key: str, limit: float, figure: float | None, detail: str) -> Check:
    if figure is None:
        return Check(budget, MISSING, None, detail)
    held = figure >= limit if key.startswith("min_") else figure <= limit
    return Check(budget, PASS if held else FAIL, figure, detail)


def _devices(inputs: ReportInputs, device: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    if device in ("local", "*"):
        yield "local", local_rows(inputs.results)
    for name, rows in inputs.edge.items():
        if device in (name, "*"):
            yield name, rows


def _row_figure(key: str, row: dict[str, Any], inputs: ReportInputs, emulation: str | None) -> tuple[float | None, str]:
    if get(row, "status") != "OK":
        return None, f"row {text(get(row, 'status'))}: {text(get(row, 'reason'))}"
    if key in LATENCY_LIMITS:
        if emulation:
            return None, f"emulated ({emulation}): no device timings"
        field = key.removeprefix("max_")
        return getf(row, field), "" if getf(row, field) is not None else f"no {field} in this row"
    if key == "max_peak_memory_mib":
        found = next((getf(row, f) for f in PEAK_MEMORY_FIELDS if getf(row, f) is not None), None)
        return found, "" if found is not None else f"no peak memory in this row ({' / '.join(PEAK_MEMORY_FIELDS)})"
    entry = inputs.results.artifacts.get(str(get(row, "artifact")))
    if key == "max_file_size_kib":
        size = getf(row, "file_size_bytes") or getf(entry, "size_bytes")
        return (None, "no file size") if size is None else (size / 1024, "")
    q = quality(entry, reference_accuracy(inputs.results))  # max_accuracy_drop_points
    if q is not None:
        return q.drop_points, f"{q.kind} of the export's parity check"
    agree = getf(row, "top1_agreement")
    return (None, "no accuracy figure") if agree is None else ((1 - agree) * 100, "top-1 agreement on the device")


def _artifact_checks(b: ArtifactBudget, inputs: ReportInputs) -> list[Check]:
    checks = []
    for device, rows in _devices(inputs, b.device):
        matching = [
            r
            for r in rows
            if b.artifact in ("*", get(r, "artifact"))
            and b.profile in (None, get(r, "profile"))
            and b.threads in (None, get(r, "threads"))
        ]
        for row in matching:
            where = f"{device} {text(get(row, 'artifact'))}, {text(get(row, 'profile'))}, {text(get(row, 'threads'))} thread(s)"
            for key, limit in b.limits:
                figure, detail = _row_figure(key, row, inputs, emulated(rows))
                sign = ">=" if key.startswith("min_") else "<="
                checks.append(_judge(f"{where}: {ARTIFACT_LIMITS[key]} {sign} {limit:g}", key, limit, figure, detail))
        if not matching and b.device != "*":
            checks += [
                Check(f"{b.selector()}: {ARTIFACT_LIMITS[k]} <= {v:g}", MISSING, None, "no such row in the run")
                for k, v in b.limits
            ]
    if b.device not in ("*", "local") and b.device not in inputs.edge:
        checks += [
            Check(f"{b.selector()}: {ARTIFACT_LIMITS[k]} <= {v:g}", MISSING, None, "device not ingested in this run")
            for k, v in b.limits
        ]
    return checks


def _p99_at(s: Any, rate: float) -> tuple[float | None, str]:
    """The worst p99 (failures counted) of the SLO trials at the lowest offered rate >= `rate`."""
    trials = lowest_rate_trials(s, rate)
    if not trials:
        tried = max((getf(t, "rate_rps") or 0.0 for t in slo_trials(s)), default=None)
        return None, f"no SLO trial at >= {rate:g}/s (highest tried: {text(tried)})"
    lowest = getf(trials[0], "rate_rps") or 0.0
    p99s = [getf(t, "result", "p99_incl_failures_ms") or getf(t, "result", "p99_ms") for t in trials]
    known = [p for p in p99s if p is not None]
    if len(known) < len(p99s):
        return float("inf"), f"a trial at {lowest:g}/s had a p99 the samples cannot bound"
    return max(known), f"worst of {len(known)} trial(s) at {lowest:g}/s"


def _served_figure(key: str, s: Any, b: ServedBudget, inputs: ReportInputs) -> tuple[float | None, str]:
    if s.status != "OK":
        return None, f"target {s.status}: {text(s.reason)}"
    if key == "max_p99_ms":
        assert b.at_rate_rps is not None  # parse_budget pairs them
        return _p99_at(s, b.at_rate_rps)
    rate = getf(s.slo, "max_rate_rps")
    if key == "min_slo_rate_rps":
        return rate, "" if rate is not None else "no SLO rate found"
    e = efficiency(s, cost_settings(inputs.results.settings))
    if e is None or e.load != "SLO rate":
        return None, "no cost at an SLO rate"
    figure = e.cost_measured if key == "max_cost_per_million_cpu" else e.cost_provisioned
    return figure, "" if figure is not None else "no CPU or core figure for the cost"


def _served_checks(b: ServedBudget, inputs: ReportInputs) -> list[Check]:
    targets = [s for s in inputs.results.served if b.target in ("*", s.target)]
    checks = []
    for key, limit in b.limits:
        sign = ">=" if key.startswith("min_") else "<="
        bound = f"{SERVED_LIMITS[key]}{f' at {b.at_rate_rps:g}/s' if key == 'max_p99_ms' else ''} {sign} {limit:g}"
        for s in targets:
            figure, detail = _served_figure(key, s, b, inputs)
            checks.append(_judge(f"served {target_label(s)}: {bound}", key, limit, figure, detail))
        if not targets:
            checks.append(Check(f"served {b.target}: {bound}", MISSING, None, "target not served in this run"))
    return checks


def evaluate(budget: Budget, inputs: ReportInputs) -> list[Check]:
    checks = [c for b in budget.artifacts for c in _artifact_checks(b, inputs)]
    return checks + [c for b in budget.served for c in _served_checks(b, inputs)]


def budget_section(inputs: ReportInputs) -> Section | None:
    """Each budget with PASS, FAIL or MISSING; None when the run was given no budget."""
    if inputs.budget is None:
        return None
    try:
        checks = evaluate(parse_budget(inputs.budget), inputs)
    except ConfigError as exc:
        return Section("budget", "Budgets", [Paragraph(f"The budget cannot be read: {exc}", tone="warning")])
    counts = {s: sum(c.status == s for c in checks) for s in (PASS, FAIL, MISSING)}
    table = Table(
        ["budget", "measured", "status", "how / why missing"],
        [[c.budget, DASH if c.figure is None else f"{c.figure:.4g}", c.status, c.detail or DASH] for c in checks],
        ["OK" if c.status == PASS else "FAILED" if c.status == FAIL else "SKIPPED" for c in checks],
    )
    summary = f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[MISSING]} missing (`deploy-compare check` exits 1 on a failure, else 3 on a missing figure)"
    return Section(
        "budget",
        "Budgets",
        [Paragraph(summary, tone="warning" if counts[FAIL] or counts[MISSING] else "plain"), table],
    )
