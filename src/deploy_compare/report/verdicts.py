"""Plain-word answers to the four questions a run exists for, each with its figures.

A pure function of results.json (RunResults): re-rendering a run gives the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..deploy.results import RunResults, ServedResult
from .fmt import ascending, get, getf, kib, ms, num, pct, ratio
from .names import (
    QUANTIZED_VARIANTS,
    artifact_accuracy,
    footprint_row,
    local_label,
    ok_local,
    reference_accuracy,
    sweep_points,
    target_label,
    tflite_artifacts,
)


@dataclass
class Verdict:
    key: str  # latency | throughput | footprint | accuracy
    question: str
    answer: str  # one sentence naming the winner with its figures
    winner: str | None  # artifact or target name; None when nothing could be measured
    details: list[str] = field(default_factory=list)


def _not_run(served: list[ServedResult]) -> str:
    parts = [
        f"{target_label(s)} {s.status}" + (f" ({s.reason})" if s.reason else "") for s in served if s.status != "OK"
    ]
    return "; ".join(parts)


def _single_request_point(s: ServedResult) -> dict[str, Any] | None:
    points = [p for p in sweep_points(s) if getf(p, "p50_ms") is not None]
    return points[0] if points else None  # concurrency 1 when the sweep has it


def latency_verdict(results: RunResults) -> Verdict:
    question = "Lowest single-request latency"
    local = [r for r in ok_local(results, "server") if getf(r, "p50_ms") is not None]
    served = []
    for s in results.served:
        point = _single_request_point(s) if s.status == "OK" else None
        if point is not None:
            served.append((s, point))
    best_local = min(local, key=lambda r: ascending(getf(r, "p50_ms"))) if local else None
    best_served = min(served, key=lambda sp: ascending(getf(sp[1], "p50_ms"))) if served else None
    details = []
    if best_local is not None:
        details.append(
            f"Best in-process path: {local_label(best_local)}, p50 {ms(best_local.get('p50_ms'))} ms, "
            f"p99 {ms(best_local.get('p99_ms'))} ms (server profile, batch 1)."
        )
    if best_served is not None:
        s, p = best_served
        conc = get(p, "concurrency")
        slower = ratio(getf(best_local, "p50_ms"), getf(p, "p50_ms")) if best_local else None
        versus = f", {slower} the in-process p50 (HTTP, serialization and queueing)" if slower and slower != "-" else ""
        details.append(
            f"Best served stack: {target_label(s)} serving {s.artifact or '?'}, p50 {ms(p.get('p50_ms'))} ms, "
            f"p99 {ms(p.get('p99_ms'))} ms at concurrency {conc} (closed loop){versus}."
        )
    elif results.served:
        details.append(
            "No served stack measured a single request: " + (_not_run(results.served) or "empty sweeps") + "."
        )
    if best_local is None and best_served is None:
        return Verdict("latency", question, "Nothing measured a single-request latency in this run.", None, details)
    local_p50 = getf(best_local, "p50_ms") if best_local else None
    served_p50 = getf(best_served[1], "p50_ms") if best_served else None
    if best_local is not None and (served_p50 is None or (local_p50 is not None and local_p50 <= served_p50)):
        winner, p50, label = best_local["artifact"], local_p50, local_label(best_local)
    else:
        assert best_served is not None, "nothing measured returned above"
        winner, p50, label = best_served[0].target, served_p50, target_label(best_served[0])
    return Verdict("latency", question, f"{label}, p50 {ms(p50)} ms.", winner, details)


def _passing_trial(slo: dict[str, Any] | None) -> dict[str, Any] | None:
    rate = getf(slo, "max_rate_rps")
    for trial in get(slo, "trials") or []:
        if get(trial, "passed") and getf(trial, "rate_rps") == rate:
            return trial
    return None


def throughput_verdict(results: RunResults) -> Verdict:
    question = "Highest throughput within the p99 SLO"
    searched = [s for s in results.served if s.status == "OK" and isinstance(s.slo, dict)]
    if not searched:
        why = _not_run(results.served) or "no served target in this run"
        return Verdict("throughput", question, f"No served target could run the SLO search: {why}.", None)
    details = []
    for s in searched:
        rate, bound = getf(s.slo, "max_rate_rps"), getf(s.slo, "p99_bound_ms")
        if rate is None:
            details.append(
                f"{target_label(s)}: no rate tried met p99 <= {ms(bound)} ms "
                f"({get(s.slo, 'note') or 'see the trials'})."
            )
            continue
        trial = _passing_trial(s.slo) or {}
        lower = "at least " if get(s.slo, "limited_by_client") else ""
        details.append(
            f"{target_label(s)}: {lower}{num(rate)} req/s with p99 "
            f"{ms(get(trial, 'result', 'p99_incl_failures_ms'))} ms (bound {ms(bound)} ms, "
            f"{num(get(trial, 'result', 'throughput_rps'))} req/s completed)"
            + (" - the load client was the bottleneck, so this is a lower bound" if lower else "")
            + "."
        )
    skipped = _not_run(results.served)
    if skipped:
        details.append(f"Not compared: {skipped}.")
    passing = [s for s in searched if getf(s.slo, "max_rate_rps") is not None]
    if not passing:
        bound = getf(searched[0].slo, "p99_bound_ms")
        return Verdict(
            "throughput",
            question,
            f"No served target met the p99 bound of {ms(bound)} ms at any rate tried.",
            None,
            details,
        )
    best = max(passing, key=lambda s: getf(s.slo, "max_rate_rps") or 0.0)  # all not None: filtered above
    lower = "at least " if get(best.slo, "limited_by_client") else ""
    only = " - the only served stack measured" if len(results.served) > 1 and len(passing) == 1 else ""
    answer = (
        f"{target_label(best)}, {lower}{num(getf(best.slo, 'max_rate_rps'))} req/s with p99 <= "
        f"{ms(getf(best.slo, 'p99_bound_ms'))} ms (open loop){only}."
    )
    return Verdict("throughput", question, answer, best.target, details)


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
        latency_verdict(results),
        throughput_verdict(results),
        footprint_verdict(results),
        accuracy_verdict(results),
    ]
