"""The server's view beside the client's: CPU and memory per load level, where a request's
time goes (queue / compute / the rest), cold start, and what one million inferences cost.

Figures come from each run's LoadResult.server (servers/monitor.py ServerUsage) and each
target's cold_start (deploy/coldstart.py). The split is of MEANS: the stack's counters add
up time, so queue + compute + rest = the client's mean latency, never its p50 or p99.

Cost: [cost] price_per_vcpu_hour (default: a stated public on-demand price). Two figures:
  measured CPU     price x the server's CPU seconds per request (the cores it kept busy):
                   what the work costs on a perfectly packed machine
  provisioned      price x the cores the server was given / the SLO rate: what a box of
                   that size serving exactly this stack at its SLO rate costs
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from ..deploy.report_settings import CostSettings, cost_settings
from ..deploy.results import RunResults, ServedResult
from ..repeats import median_point, repetition
from .document import Paragraph, Section, Table
from .fmt import DASH, get, getf, ms, num, text
from .names import slo_trials, sweep_points, target_label

MILLION = 1_000_000


def split_parts(point: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(queue, compute, rest) mean ms per request of one run; rest = client mean - queue - compute."""
    queue = getf(point, "server", "split", "queue_ms")
    compute = getf(point, "server", "split", "compute_ms")
    mean = getf(point, "mean_ms")
    rest = mean - queue - compute if None not in (queue, compute, mean) else None  # type: ignore[operator]
    return queue, compute, rest


def slo_point(s: ServedResult) -> dict[str, Any] | None:
    """The SLO search's passing trial at the reported rate (its LoadResult dict). With
    repetitions the reported rate is a median no trial may have run at (even repeats): each
    repetition's passing trial at its own rate, combined (repeats.median_point)."""
    if getf(s.slo, "max_rate_rps") is None:
        return None
    wanted = [(repetition(r), getf(r, "max_rate_rps")) for r in s.slo_repeats if isinstance(r, dict)]
    if not wanted:  # results from before --repeat: one search
        wanted = [(1, getf(s.slo, "max_rate_rps"))]
    points = []
    for rep, rate in wanted:
        if rate is None:
            continue  # this repetition met the bound at no rate
        for t in slo_trials(s):
            result = get(t, "result")
            if get(t, "passed") and repetition(t) == rep and getf(t, "rate_rps") == rate and isinstance(result, dict):
                points.append(result)
                break
    if not points:
        return None
    return points[0] if len(points) == 1 else median_point(points)


def _row(label: str, load: str, p: dict[str, Any]) -> list[str]:
    queue, compute, rest = split_parts(p)
    server = get(p, "server")
    note = text(get(server, "split_note") or get(server, "error")) if server else "not sampled"
    return [
        label,
        load,
        num(get(p, "throughput_rps")),
        ms(get(p, "mean_ms")),
        ms(get(server, "cpu_ms_per_request")),
        num(get(server, "cores_busy"), 2),
        num(get(server, "peak_rss_mib")),
        ms(queue),
        ms(compute),
        ms(rest),
        note if queue is None else text(get(server, "split", "source")),
    ]


def server_view_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s in results.served:
        label = target_label(s)
        for p in sweep_points(s):
            rows.append(_row(label, f"c={get(p, 'concurrency')}", p))
            statuses.append("OK" if get(p, "server") else "WARN")
        best = slo_point(s)
        if best is not None:
            rows.append(_row(label, f"SLO {num(get(best, 'target_rate_rps'))} req/s", best))
            statuses.append("OK" if get(best, "server") else "WARN")
    return Table(
        [
            "target",
            "load",
            "throughput req/s",
            "client mean ms",
            "server CPU ms/req",
            "cores busy",
            "peak RSS MiB",
            "queue ms",
            "compute ms",
            "rest ms",
            "split from",
        ],
        rows,
        statuses,
    )


def cold_start_figures(s: ServedResult) -> dict[str, Any]:
    """The cold start as the report shows it: with repetitions (each started its own server), the
    median of each figure and of each of the first requests; else the one measured."""
    colds = [c for c in s.cold_start_repeats if isinstance(c, dict)]
    if len(colds) < 2:
        return s.cold_start or {}
    merged = median_point(colds)
    lists = [c.get("first_requests_ms") or [] for c in colds]
    merged["first_requests_ms"] = [
        statistics.median(values) for values in zip(*lists, strict=False)
    ]  # request i of each repetition (as many as every repetition answered)
    merged["note"] = "; ".join(f"repetition {repetition(c)}: {c['note']}" for c in colds if c.get("note"))
    return merged


def cold_start_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s in results.served:
        cold = cold_start_figures(s)
        if s.status == "SKIPPED" or (not cold and s.startup_s is None):
            continue
        first = get(cold, "first_requests_ms") or []
        colds = [c for c in s.cold_start_repeats if isinstance(c, dict)]
        launches = f" (median of {len(colds)})" if len(colds) > 1 else ""
        rows.append(
            [
                target_label(s) + launches,
                num(s.image_build_s, 2),
                num(get(cold, "launch_to_healthy_s") if cold else s.startup_s, 2),
                num(get(cold, "launch_to_first_inference_s"), 2),
                ", ".join(ms(v) for v in first) if first else DASH,
                num(s.peak_rss_mib),
                text(get(cold, "note") or (s.reason if s.status == "FAILED" else None)),
            ]
        )
        statuses.append(s.status)
    return Table(
        [
            "target",
            "image build s",
            "launch -> healthy s",
            "launch -> first inference s",
            "first requests ms",
            "peak RSS MiB (all runs)",
            "note",
        ],
        rows,
        statuses,
    )


@dataclass
class Efficiency:
    target: str
    load: str  # "SLO rate", or the closed-loop level used when no SLO rate was found
    slo_rate_rps: float
    cpu_ms_per_request: float | None
    rps_per_busy_core: float | None  # the SLO rate / the cores the server kept busy
    server_cores: int | None  # cores the server was given (pinned), None = not pinned
    cost_measured: float | None  # per million inferences, measured CPU
    cost_provisioned: float | None  # per million inferences, the given cores at the SLO rate


def efficiency(s: ServedResult, cost: CostSettings) -> Efficiency | None:
    """At the SLO rate; without one (no rate met the bound, or the client was the limit), at the
    closed-loop level with the highest throughput, and the row says so."""
    best = slo_point(s)
    rate = getf(s.slo, "max_rate_rps")
    load = "SLO rate"
    if best is None or rate is None:
        measured = [p for p in sweep_points(s) if getf(p, "server", "cpu_ms_per_request") and getf(p, "throughput_rps")]
        if not measured:
            return None
        best = max(measured, key=lambda p: getf(p, "throughput_rps") or 0.0)
        rate = getf(best, "throughput_rps")
        load = f"no SLO rate: closed loop c={get(best, 'concurrency')}"
        assert rate is not None
    cpu_ms = getf(best, "server", "cpu_ms_per_request")
    busy = getf(best, "server", "cores_busy")
    cores = len(s.server_cores) if s.server_cores else None
    per_hour = cost.price_per_vcpu_hour
    return Efficiency(
        target=target_label(s),
        load=load,
        slo_rate_rps=rate,
        cpu_ms_per_request=cpu_ms,
        rps_per_busy_core=(getf(best, "throughput_rps") or rate) / busy if busy else None,
        server_cores=cores,
        cost_measured=cpu_ms / 1000.0 / 3600.0 * per_hour * MILLION if cpu_ms is not None else None,
        cost_provisioned=cores * per_hour / 3600.0 / rate * MILLION if cores else None,
    )


def cost_table(results: RunResults) -> tuple[Table, CostSettings]:
    cost = cost_settings(results.settings)
    rows, statuses = [], []
    for s in results.served:
        e = efficiency(s, cost)
        if e is None:
            continue
        rows.append(
            [
                e.target,
                e.load,
                num(e.slo_rate_rps),
                ms(e.cpu_ms_per_request),
                num(e.rps_per_busy_core),
                text(e.server_cores),
                money(e.cost_measured, cost.currency),
                money(e.cost_provisioned, cost.currency),
            ]
        )
        statuses.append("OK" if e.load == "SLO rate" else "WARN")
    table = Table(
        [
            "target",
            "at",
            "req/s",
            "server CPU ms/req",
            "req/s per busy core",
            "server cores",
            "per 1M, measured CPU",
            "per 1M, provisioned cores",
        ],
        rows,
        statuses,
    )
    return table, cost


def money(value: float | None, currency: str) -> str:
    if value is None:
        return DASH
    return f"{value:.4f} {currency}" if value < 1 else f"{value:,.2f} {currency}"


def server_view_section(results: RunResults, time_series_figure: Any) -> Section:
    blocks: list = [
        Paragraph(
            "Per load level, what the server itself spent: CPU seconds per answered request and the cores it kept "
            "busy (whole process tree natively, the container's cgroup in Docker), the highest resident memory "
            "sampled, and where the stack's own metrics expose it, the mean time per request in its queue and in "
            "compute; rest = the client's mean latency - queue - compute (network, HTTP, parsing, serialization). "
            "Means, since the counters only add up. The machine may have been shared: compare within one run.",
            tone="note",
        ),
        server_view_table(results),
        Paragraph(
            "From launch to the first successful inference (the image build apart), and the first requests' "
            "latency, one at a time, right after the server reported healthy:",
            lead="Cold start",
        ),
        cold_start_table(results),
    ]
    table, cost = cost_table(results)
    blocks.append(
        Paragraph(
            f"At each stack's SLO rate (where none was found: its best closed-loop level, marked), at {cost.price_per_vcpu_hour:g} {cost.currency} per vCPU-hour "
            f"({cost.price_source}; [cost] price_per_vcpu_hour). Measured CPU: the server's CPU seconds per request "
            "priced (a perfectly packed machine); provisioned cores: the cores given to the server, priced, "
            "divided by the SLO rate.",
            lead="Efficiency and cost per million inferences",
        )
    )
    blocks.append(table if table.rows else Paragraph("No SLO rate with the server's CPU was measured.", tone="note"))
    blocks.append(time_series_figure)
    return Section("server", "The server's view", blocks)
