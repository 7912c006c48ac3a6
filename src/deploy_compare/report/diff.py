"""Compare two runs figure by figure and flag regressions beyond a tolerance.

Regressions: latency up, throughput or sustainable rate down by more than the tolerance
(relative), accuracy down by more than ACCURACY_POINTS, a target OK in A and FAILED or
INTERRUPTED in B. Sizes are shown but never flagged (a different export is not worse).
The library returns the verdict; only the command turns it into an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..deploy.results import RunResults
from ..errors import ConfigError
from .fmt import get, getf
from .names import is_local_device, sweep_points

ACCURACY_POINTS = 0.5  # a drop of more than half a point of accuracy is a regression
LOWER, HIGHER, INFO, POINTS = "lower", "higher", "info", "points"  # which direction is better


@dataclass(frozen=True)
class Figure:
    key: str  # what was measured, e.g. "served torchserve c=4 p99_ms"
    value: float | str | None
    better: str  # LOWER | HIGHER | INFO | POINTS | "status"


@dataclass
class DiffRow:
    key: str
    a: float | str | None
    b: float | str | None
    change_pct: float | None  # relative change B vs A; accuracy: change in points
    better: str
    regression: bool
    note: str = ""


@dataclass
class DiffReport:
    tolerance: float
    rows: list[DiffRow]

    @property
    def regressions(self) -> list[DiffRow]:
        return [r for r in self.rows if r.regression]


def figures(results: RunResults) -> dict[str, Figure]:
    out: dict[str, Figure] = {}

    def add(key: str, value: Any, better: str) -> None:
        out[key] = Figure(key, value, better)

    for row in results.local:
        if not isinstance(row, dict) or not is_local_device(row):
            continue
        name = f"local {get(row, 'artifact')} {get(row, 'profile')} t={get(row, 'threads')}"
        add(f"{name} status", get(row, "status"), "status")
        if get(row, "status") != "OK":
            continue
        add(f"{name} p50_ms", getf(row, "p50_ms"), LOWER)
        thr = get(row, "throughput_samples_per_s")
        for batch, value in sorted((thr if isinstance(thr, dict) else {}).items(), key=lambda kv: int(kv[0])):
            add(f"{name} bs{batch}_samples_per_s", getf({"v": value}, "v"), HIGHER)
    for s in results.served:
        add(f"served {s.target} status", s.status, "status")
        if s.status != "OK":
            continue
        for p in sweep_points(s):
            name = f"served {s.target} c={get(p, 'concurrency')}"
            add(f"{name} p50_ms", getf(p, "p50_ms"), LOWER)
            add(f"{name} p99_ms", getf(p, "p99_ms"), LOWER)
            add(f"{name} throughput_rps", getf(p, "throughput_rps"), HIGHER)
        if isinstance(s.slo, dict):
            # A search where no rate met the bound sustains 0 req/s within the SLO.
            rate = getf(s.slo, "max_rate_rps")
            add(f"slo {s.target} max_rate_rps", 0.0 if rate is None else rate, HIGHER)
    for name, entry in sorted(results.artifacts.items()):
        add(f"artifact {name} size_bytes", getf(entry, "size_bytes"), INFO)
        accuracy = getf(entry, "parity", "accuracy")
        add(f"artifact {name} accuracy_pct", None if accuracy is None else accuracy * 100, POINTS)
    return out


def _compare(key: str, a: Figure | None, b: Figure | None, tolerance: float) -> DiffRow:
    present = a or b
    if present is None:
        raise ValueError(f"{key}: in neither run")  # diff_runs only asks for keys of A or B
    better = present.better
    va, vb = a.value if a else None, b.value if b else None
    if better == "status":
        bad = va == "OK" and vb in ("FAILED", "INTERRUPTED")
        return DiffRow(key, va, vb, None, better, bad, f"was OK, now {vb}" if bad else "")
    if va is None or vb is None:
        note = (
            "only in B"
            if a is None
            else ("only in A" if b is None else "not measured in " + ("A" if va is None else "B"))
        )
        return DiffRow(key, va, vb, None, better, False, note)
    if isinstance(va, str) or isinstance(vb, str):  # a status row compares above; text is never a figure
        return DiffRow(key, va, vb, None, better, False, "not a number")
    if better == POINTS:
        delta = vb - va
        bad = delta < -ACCURACY_POINTS
        return DiffRow(key, va, vb, delta, better, bad, f"accuracy down {-delta:.2f} points" if bad else "")
    change = None if va == 0 else (vb - va) / abs(va) * 100
    if change is None:
        return DiffRow(key, va, vb, None, better, False, "A is 0")
    bad = (better == LOWER and change > tolerance * 100) or (better == HIGHER and change < -tolerance * 100)
    note = ""
    if bad:
        note = "slower" if better == LOWER else "lower"
    return DiffRow(key, va, vb, change, better, bad, note)


def diff_runs(a: RunResults, b: RunResults, tolerance: float = 0.10) -> DiffReport:
    if not 0 <= tolerance < 10:
        raise ConfigError(f"tolerance must be a share between 0 and 10 (0.10 = 10%), got {tolerance}")
    fa, fb = figures(a), figures(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    rows = [_compare(k, fa.get(k), fb.get(k), tolerance) for k in keys]
    # A status that did not change says nothing; its figures follow on their own rows.
    return DiffReport(tolerance, [r for r in rows if not (r.better == "status" and r.a == r.b)])


def _value(v: float | str | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"


def format_diff(report: DiffReport, name_a: str = "A", name_b: str = "B") -> str:
    header = ("figure", name_a, name_b, "change", "")
    rows = [header]
    for r in report.rows:
        if r.change_pct is None:
            change = "-"
        elif r.better == POINTS:
            change = f"{r.change_pct:+.2f} pt"
        else:
            change = f"{r.change_pct:+.1f}%"
        flag = ("REGRESSION" + (f" ({r.note})" if r.note else "")) if r.regression else r.note
        rows.append((r.key, _value(r.a), _value(r.b), change, flag))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    n = len(report.regressions)
    lines.append("")
    lines.append(
        f"{n} regression(s) beyond the tolerance ({report.tolerance:.0%} for latency/throughput/rate, "
        f"{ACCURACY_POINTS} point for accuracy)"
        if n
        else f"no regression beyond the tolerance ({report.tolerance:.0%}; accuracy {ACCURACY_POINTS} point)"
    )
    return "\n".join(lines)
