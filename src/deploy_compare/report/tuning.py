"""The report's workload tables: request batch sizes, and each stack at its defaults vs tuned.

Views of ServedResult.sweep/slo/batches (one row per stack and request batch size) and of
ServedResult.tuning (deploy/tune.py), so stacks are compared tuned vs tuned with the
setting spelled out.
"""

from __future__ import annotations

from typing import Any

from ..deploy.results import RunResults, ServedResult
from ..repeats import combine_slo, repetition
from .document import Table
from .fmt import DASH, get, getf, ms, num, ratio, text
from .names import target_label

#: a tuned rate within this factor of the defaults' is inside the SLO search's resolution
#: (its bisection stops at rel_tolerance, 5% by default): called a tie, not a gain
TIE_FACTOR = 1.1


def workloads(s: ServedResult) -> list[tuple[int, list[dict[str, Any]], dict[str, Any] | None]]:
    """(batch size, closed-loop points, SLO search) of every request batch size a stack ran, the
    first [load] batch size first; every point and trial carries its repetition."""
    first = next((get(p, "batch_size") for p in s.sweep if isinstance(p, dict)), None)
    if first is None:  # no sweep point: the SLO's trials say which batch size it ran
        trials = get(s.slo, "trials") or []
        first = get(trials[0], "result", "batch_size") if trials else None
    rows = [(int(first or 1), list(s.sweep), s.slo)]
    # With --repeat, each repetition added one entry per batch size: one row per size, its
    # points together and its SLO searches combined as the first size's are (median, bracket).
    by_size: dict[int, list[dict[str, Any]]] = {}
    for entry in s.batches:
        by_size.setdefault(int(entry.get("batch_size") or 1), []).append(entry)
    for size, entries in by_size.items():
        sweep = [{**p, "repetition": repetition(e)} for e in entries for p in e.get("sweep") or []]
        searches = [
            {
                **e["slo"],
                "repetition": repetition(e),
                "trials": [{**t, "repetition": repetition(e)} for t in e["slo"].get("trials") or []],
            }
            for e in entries
            if isinstance(e.get("slo"), dict)
        ]
        slo = None
        if len(searches) == 1:
            slo = searches[0]
        elif searches:
            slo = combine_slo(searches, [t for r in searches for t in r.get("trials") or []])
        rows.append((size, sweep, slo))
    return rows


def batch_table(results: RunResults) -> Table:
    """Per stack and request batch size: peak closed-loop samples/s and the SLO rate in
    requests/s and samples/s (what batching on the client side buys under the bound)."""
    rows, statuses = [], []
    for s in results.served:
        if s.status != "OK" or not s.batches:
            continue
        base: float | None = None  # the first batch size's SLO rate in samples/s
        for number, (batch, sweep, slo) in enumerate(workloads(s)):
            peak = max(sweep, key=lambda p: getf(p, "throughput_samples_per_s") or 0.0, default=None)
            rate = getf(slo, "max_rate_rps")
            samples = None if rate is None else rate * batch
            if number == 0:
                base = samples
            # why a size has no rate: the search's own note, or the server refusing the size
            refused = [
                f"repetition {repetition(e)} FAILED: {e.get('reason')}"
                for e in s.batches
                if int(e.get("batch_size") or 1) == batch and e.get("status") == "FAILED"
            ]
            note = "; ".join([*refused, *([get(slo, "note")] if get(slo, "note") else [])])
            rows.append(
                [
                    target_label(s),
                    str(batch),
                    num(get(peak, "throughput_samples_per_s")) if peak else DASH,
                    text(get(peak, "concurrency")) if peak else DASH,
                    ms(get(peak, "p99_ms")) if peak else DASH,
                    num(rate),
                    num(samples),
                    ratio(base, samples),
                    text(note) if note else DASH,
                ]
            )
            statuses.append("OK" if rate is not None else "FAILED" if refused else "WARN")
    return Table(
        [
            "target",
            "samples per request",
            "closed loop: best samples/s",
            "at concurrency",
            "its p99 ms",
            "SLO rate req/s",
            "SLO rate samples/s",
            "vs the first batch size",
            "note",
        ],
        rows,
        statuses,
    )


def tuning_table(results: RunResults) -> Table:
    """Per stack: the SLO rate at its defaults, its best setting (spelled out) and that rate."""
    rows, statuses = [], []
    for s in results.served:
        tuning = s.tuning
        if not isinstance(tuning, dict):
            continue
        default = tuning.get("default") or {}
        best = tuning.get("best")
        tried = len(tuning.get("trials") or [])
        failed = [t for t in tuning.get("trials") or [] if t.get("status") != "OK"]
        note = text(tuning.get("note")) if tuning.get("note") else ""
        if failed:
            note = "; ".join(
                [note] * bool(note) + [f"{t['label']}: {t.get('status')} ({t.get('reason')})" for t in failed]
            )
        bounded = [default] + [t for t in tuning.get("trials") or [] if t.get("status") == "OK"]
        limited = [t.get("label", "?") for t in bounded if t.get("limited_by_client")]
        if limited:
            note = "; ".join([note] * bool(note) + [f"client-limited (a lower bound): {', '.join(limited)}"])
        gain = get(best, "gain_vs_default")
        if best and best.get("setting") and gain is not None and gain < TIE_FACTOR:
            note = "; ".join([note] * bool(note) + ["within the search's resolution of the defaults: a tie"])
        rows.append(
            [
                target_label(s),
                str(tuning.get("batch_size", 1)),
                num(default.get("max_rate_rps")),
                text(get(best, "label")) if best else "none met the bound",
                num(get(best, "max_rate_rps")),
                num(get(best, "max_rate_samples_per_s")),
                f"{gain:.2f}x" if isinstance(gain, (int, float)) else DASH,
                str(tried),
                note or DASH,
            ]
        )
        statuses.append("OK" if best else "WARN")
    return Table(
        [
            "target",
            "samples per request",
            "defaults: SLO rate req/s",
            "best setting",
            "tuned: SLO rate req/s",
            "tuned: samples/s",
            "tuned vs defaults",
            "settings tried",
            "note",
        ],
        rows,
        statuses,
    )


def tuning_trials_table(results: RunResults) -> Table:
    """Every setting tried, with the server configuration it ran."""
    rows, statuses = [], []
    for s in results.served:
        tuning = s.tuning if isinstance(s.tuning, dict) else {}
        for t in [tuning.get("default")] + list(tuning.get("trials") or []) if tuning else []:
            if not t:
                continue
            rows.append(
                [
                    target_label(s),
                    text(t.get("label")),
                    text(t.get("status", "OK")),
                    num(t.get("max_rate_rps")),
                    num(t.get("max_rate_samples_per_s")),
                    text(get(t, "slo", "note") or t.get("reason") or t.get("source")),
                ]
            )
            statuses.append(t.get("status", "OK"))
    return Table(["target", "setting", "status", "SLO rate req/s", "samples/s", "note"], rows, statuses)


def _rps(rate: float | None, lower_bound: bool) -> str:
    return DASH if rate is None else ("at least " if lower_bound else "") + f"{num(rate)} req/s"


def _per_request(rate: float | None, batch: int, lower_bound: bool = False) -> str:
    """ "32 x 12.5 req/s = 400.0 samples/s": samples/s spelled out as samples per request x req/s."""
    if rate is None:
        return f"batch {batch}: none met the bound"
    return f"{batch} x {_rps(rate, lower_bound)} = {num(rate * batch)} samples/s"


def _tuned_cells(tuning: Any, notes: list[str]) -> list[str]:
    """defaults' rate, the best setting, its rate, tuned vs defaults (tune stage: ServedResult.tuning)."""
    if not isinstance(tuning, dict):
        notes.append("not tuned (the tune stage did not run)")
        return [DASH] * 4
    batch = int(tuning.get("batch_size") or 1)
    default = tuning.get("default") or {}
    best = tuning.get("best")
    rated = [default] + [t for t in tuning.get("trials") or [] if t.get("status") == "OK"]
    limited = {t.get("label") for t in rated if t.get("limited_by_client")}

    def rate(row: Any) -> str:
        value = getf(row, "max_rate_rps")
        if value is None or batch == 1:
            return _rps(value, get(row, "label") in limited)
        return _per_request(value, batch, get(row, "label") in limited)

    if tuning.get("note"):
        notes.append(str(tuning["note"]))
    failed = [t.get("label", "?") for t in tuning.get("trials") or [] if t.get("status") != "OK"]
    if failed:
        notes.append(f"failed to run: {', '.join(failed)} (see the tuning table)")
    if limited:
        notes.append(f"client-limited (a lower bound): {', '.join(sorted(str(x) for x in limited))}")
    gain = get(best, "gain_vs_default")
    verdict = DASH
    if isinstance(gain, (int, float)):
        verdict = f"{gain:.2f}x"
        if get(best, "setting") and gain < TIE_FACTOR:
            verdict += " (a tie: within the search's resolution)"
        elif not get(best, "setting"):
            verdict += " (the defaults stay best)"
    return [
        rate(default),
        text(get(best, "label")) if best else "none met the bound",
        rate(best) if best else DASH,
        verdict,
    ]


def _batching_cells(s: ServedResult, notes: list[str]) -> list[str]:
    """The first batch size's SLO rate in samples/s, the best size's, and the ratio."""
    sizes = [
        (batch, getf(slo, "max_rate_rps"), bool(get(slo, "limited_by_client"))) for batch, _sweep, slo in workloads(s)
    ]
    limited = {batch for batch, _, lower_bound in sizes if lower_bound}
    rates = {batch: rate for batch, rate, _ in sizes if rate is not None}
    samples = {batch: rate * batch for batch, rate in rates.items()}
    refused = sorted(
        {f"batch {e.get('batch_size')}: {e.get('reason')}" for e in s.batches if e.get("status") == "FAILED"}
    )
    if refused:
        notes.append("FAILED " + "; ".join(refused))
    first_batch, first_rate, _ = sizes[0]
    first = _per_request(first_rate, first_batch, first_batch in limited)
    if len(sizes) < 2:
        notes.append("one request batch size measured")
        return [first, DASH, DASH]
    if not samples:
        return [first, "none met the bound", DASH]
    best = max(samples, key=lambda batch: (samples[batch], -batch))  # the smaller batch wins a tie
    if limited & {first_batch, best}:
        notes.append("batching: a client-limited rate is a lower bound")
    base = samples.get(first_batch)
    bought = ratio(base, samples[best])
    if base is not None and best == first_batch:
        bought += " (the first size stays best)"
    elif base is not None and samples[best] < TIE_FACTOR * base:
        bought += " (a tie: within the search's resolution)"
    return [first, _per_request(rates[best], best, best in limited), bought]


def headline_table(results: RunResults) -> Table:
    """The table to read first: per stack, the SLO rate at its defaults vs its best setting
    (spelled out), and what batching bought: the SLO rate in samples/s (req/s x samples per
    request) at the first request batch size vs the best one. Empty when no stack was tuned
    or measured at several batch sizes (the SLO table and the verdicts say the rest)."""
    if not any(s.status == "OK" and (s.batches or isinstance(s.tuning, dict)) for s in results.served):
        return Table([], [], [])
    rows, statuses = [], []
    for s in results.served:
        if s.status != "OK":
            rows.append([target_label(s)] + [DASH] * 7 + [f"{s.status}: {text(s.reason)}"])
            statuses.append(s.status)
            continue
        notes: list[str] = []
        tuned = _tuned_cells(s.tuning, notes)
        batching = _batching_cells(s, notes)
        rows.append([target_label(s), *tuned, *batching, "; ".join(notes) or DASH])
        rates = [getf(s.tuning, "best", "max_rate_rps")] + [getf(slo, "max_rate_rps") for _, _, slo in workloads(s)]
        statuses.append("OK" if any(r is not None for r in rates) else "WARN")
    return Table(
        [
            "target",
            "defaults: SLO rate",
            "tuned: best setting",
            "tuned: SLO rate",
            "tuned vs defaults",
            "batching: first size (samples per request x SLO rate)",
            "batching: best size (samples per request x SLO rate)",
            "batching bought (samples/s)",
            "note",
        ],
        rows,
        statuses,
    )
