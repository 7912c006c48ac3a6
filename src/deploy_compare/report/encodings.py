"""The report's encoding dimension: for each served stack, latency and throughput per payload
encoding ([load] encodings: JSON, binary, gRPC), and what JSON costs against the stack's best.

The first encoding of a target is its `sweep` (ServedResult.encoding); every other one is an
entry of ServedResult.encodings (OK with its own sweep, or SKIPPED / FAILED with the reason).
"""

from __future__ import annotations

from typing import Any

from ..deploy.results import RunResults, ServedResult
from ..repeats import by_concurrency, median_point
from .document import Table
from .fmt import DASH, get, getf, ms, num, text
from .names import target_label


def cells(s: ServedResult) -> list[dict[str, Any]]:
    """Every encoding of a target: {"encoding", "status", "reason", "sweep"}, the first one first."""
    first = {"encoding": s.encoding or "json", "status": s.status, "reason": None, "sweep": s.sweep}
    return [first, *[c for c in (getattr(s, "encodings", None) or []) if isinstance(c, dict)]]


def has_dimension(results: RunResults) -> bool:
    """True when some target was measured (or skipped) with more than one encoding."""
    return any(len(cells(s)) > 1 for s in results.served if s.status == "OK")


def _points(cell: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """One point per concurrency: with repetitions, the median over them (repeats.median_point)."""
    groups = by_concurrency(p for p in cell.get("sweep") or [] if isinstance(p, dict))
    return {c: median_point(group) for c, group in groups.items()}


def _bytes(value: Any) -> str:
    v = getf({"v": value}, "v")
    return DASH if v is None else f"{v:,.0f}"


def _times(value: float | None, best: float | None) -> str:
    if value is None or best is None or best <= 0:
        return DASH
    return f"{value / best:.2f}x"


def encoding_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s in results.served:
        if s.status != "OK":
            continue
        all_cells = cells(s)
        points = [(_points(c), c) for c in all_cells]
        levels = sorted({level for pts, _ in points for level in pts})
        for level in levels:
            p50s = [getf(pts.get(level), "p50_ms") for pts, c in points if c["status"] == "OK"]
            rates = [getf(pts.get(level), "throughput_rps") for pts, c in points if c["status"] == "OK"]
            best_p50 = min((v for v in p50s if v is not None), default=None)
            best_rate = max((v for v in rates if v is not None), default=None)
            for pts, c in points:
                p = pts.get(level)
                if c["status"] != "OK" or p is None:
                    continue
                rows.append(
                    [
                        target_label(s),
                        text(c["encoding"]),
                        str(level),
                        num(get(p, "throughput_rps")),
                        ms(get(p, "p50_ms")),
                        ms(get(p, "p99_ms")),
                        _bytes(get(p, "request_bytes") or get(p, "body_bytes")),
                        _bytes(get(p, "response_bytes")),
                        _times(getf(p, "p50_ms"), best_p50),
                        _times(getf(p, "throughput_rps"), best_rate),
                        DASH,
                    ]
                )
                statuses.append("OK")
        for c in all_cells:
            if c["status"] != "OK":
                rows.append([target_label(s), text(c["encoding"]), DASH, *[DASH] * 7, text(c.get("reason"))])
                rows[-1][2] = c["status"]
                statuses.append(c["status"])
    return Table(
        [
            "target",
            "encoding",
            "concurrency",
            "req/s",
            "p50 ms",
            "p99 ms",
            "bytes/request",
            "bytes/response",
            "p50 vs best",
            "req/s vs best",
            "reason",
        ],
        rows,
        statuses,
        caption="bytes: the message (HTTP body or gRPC message), framing excluded; "
        "'vs best': against the stack's best encoding at the same concurrency (1.00x = the best; "
        "p50: lowest, req/s: highest)",
    )


def best_encoding(s: ServedResult) -> str | None:
    """The encoding with the highest closed-loop throughput at any level (None: none measured)."""
    peaks = {
        str(c["encoding"]): max((getf(p, "throughput_rps") or 0.0 for p in _points(c).values()), default=0.0)
        for c in cells(s)
        if c["status"] == "OK"
    }
    peaks = {enc: peak for enc, peak in peaks.items() if peak > 0}
    return max(peaks, key=lambda enc: (peaks[enc], enc == s.encoding)) if peaks else None


def json_cost(s: ServedResult) -> list[str]:
    """JSON's p50 and throughput against the stack's fastest encoding, one phrase per level
    (none when JSON, or any other encoding, was not measured)."""
    ok = [(c["encoding"], _points(c)) for c in cells(s) if c["status"] == "OK"]
    json_pts = dict(ok).get("json")
    if json_pts is None or len(ok) < 2:
        return []
    parts = []
    for level in sorted(json_pts):
        others = [(enc, pts[level]) for enc, pts in ok if level in pts]
        best_enc, best = min(others, key=lambda e: getf(e[1], "p50_ms") or float("inf"))
        j50, b50 = getf(json_pts[level], "p50_ms"), getf(best, "p50_ms")
        jr, br = getf(json_pts[level], "throughput_rps"), getf(best, "throughput_rps")
        if j50 is None or b50 is None:
            continue
        if best_enc == "json":
            parts.append(f"c={level}: JSON is the fastest encoding")
        else:
            rate = f", {jr / br:.2f}x its throughput" if jr and br else ""
            parts.append(f"c={level}: JSON p50 {j50 / b50:.2f}x {best_enc}'s{rate}")
    return parts


def slo_encoding_note(s: ServedResult, chosen_by: str | None = None) -> str:
    """Which encoding the SLO search ran on, whether it is the stack's best, and JSON's cost.
    `chosen_by`: the run's [load] slo_encoding ("best", "first" or a name; None: older runs)."""
    used, best = s.encoding or "json", best_encoding(s)
    if len([c for c in cells(s) if c["status"] == "OK"]) < 2:
        which = "its only encoding measured"
    elif used == best:
        which = "its best encoding (highest closed-loop throughput)"
    elif chosen_by == "best":
        # The choice's own sweep of `used` is replaced by its full sweep (deploy/record.py), whose
        # peak can come out under another encoding's: the machine's noise, not a wrong choice.
        which = f"its best encoding when chosen (highest closed-loop throughput); re-measured, {best}'s peak is higher"
    elif chosen_by not in (None, "first"):
        which = f"the encoding [load] slo_encoding names; its best is {best}"
    else:
        which = f"its first encoding ([load] encodings); its best is {best}"
    cost = json_cost(s)  # at the highest level: the load the SLO search is about
    return f"SLO search ran on {used}: {which}" + (f". JSON's cost at {cost[-1]}" if cost else "")


def json_costs(results: RunResults) -> list[str]:
    """One sentence per stack: JSON's p50 and throughput against its best encoding, per level."""
    return [
        f"{target_label(s)}: {'; '.join(cost)}." for s in results.served if s.status == "OK" and (cost := json_cost(s))
    ]
