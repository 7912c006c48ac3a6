"""One chart per question about the served stacks and the edge files (PNG bytes; None without data).

- slo_rates:        the highest rate within the SLO per stack, with its bracket [pass, fail)
- latency_by_stack: each stack's latency percentiles at one load (a CDF on a tail-spread axis)
- time_split:       where a request's time goes per stack: runtime / the stack's compute / queue / rest
- batch_samples:    samples/s per request batch size, per stack
- edge_latency:     p50 per TFLite file on each device (this machine's edge profile, ingested devices)

Each stack keeps one colour in every chart (its position among the served targets); labels are
the short ones (names.target_label), the legend table on the first screen spells them out.
"""

from __future__ import annotations

from typing import Any

from ..deploy.results import RunResults, ServedResult
from ..repeats import bench_repetitions, median_point
from .fmt import get, getf
from .inputs import ReportInputs
from .names import ok_local, sweep_repetitions, target_label, tflite_artifacts
from .plots import SERVED_POINTS, _plain_log_axis, _png, _pyplot, _spectrum, _spectrum_axes, _y
from .serverview import split_parts
from .tuning import workloads
from .uncertainty import interval_of
from .verdicts import common_concurrency, rate_of

SEGMENTS = (  # (name, colour) of the time-split bars, in the order drawn
    ("runtime (in-process, same artifact)", "#4c72b0"),
    ("the stack's compute beyond the runtime", "#8172b3"),
    ("queue", "#dd8452"),
    ("rest: protocol, HTTP, serialization", "#a0a0a0"),
    ("the stack, not split (no queue/compute metrics)", "#c7c7c7"),
)


def _colour(results: RunResults, s: ServedResult):
    index = [x.key for x in results.served].index(s.key)
    return _pyplot().get_cmap("tab10")(index % 10)


def _height(rows: int) -> float:
    return 1.2 + 0.45 * max(rows, 1)


def slo_rates(results: RunResults) -> bytes | None:
    searched = [s for s in results.served if s.status == "OK" and isinstance(s.slo, dict)]
    if not any(getf(s.slo, "max_rate_rps") is not None for s in searched):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, _height(len(searched))))
    top = max(
        [
            getf(s.slo, k) or 0.0
            for s in searched
            for k in ("max_rate_rps", "bracket_high_rps", "lowest_failing_rate_rps")
        ]
    )
    for y, s in enumerate(searched):
        r = rate_of(s)
        if r is None:
            ax.text(
                0,
                y,
                "  no rate met the bound" + (" (client fell behind)" if get(s.slo, "limited_by_client") else ""),
                va="center",
                fontsize=8,
                color="#555",
            )
            continue
        ax.barh(
            y, r.rate, color=_colour(results, s), alpha=0.85, hatch="//" if r.lower_bound else None, edgecolor="white"
        )
        high = r.high if r.high is not None else top * 1.08
        ax.plot([r.low, high], [y, y], color="black", lw=1.6)
        ax.plot([r.low], [y], marker="|", ms=12, color="black")
        ax.plot(
            [high], [y], marker="|" if r.high is not None else ">", ms=12 if r.high is not None else 6, color="black"
        )
        words = ("at least " if r.lower_bound or r.high is None else "") + f"{r.rate:,.0f} req/s"
        ax.text(high, y + 0.28, f" {words}", va="center", fontsize=8)
    ax.set_yticks(range(len(searched)), [target_label(s) for s in searched])
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.3 or 1.0)
    bound = getf(searched[0].slo, "p99_bound_ms")
    ax.set_xlabel("requests/s (open loop)")
    ax.set_title(
        f"Highest rate with p99 <= {bound:g} ms; line: bracket [pass, fail) (>: no rate failed), hatched: lower bound",
        fontsize=9,
    )
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def latency_by_stack(results: RunResults) -> bytes | None:
    measured = [s for s in results.served if s.status == "OK" and sweep_repetitions(s)]
    c = common_concurrency(measured)
    if c is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for s in measured:
        points = sweep_repetitions(s)[c]
        point = median_point(points)
        xs, ys = _spectrum(point, SERVED_POINTS)
        colour = _colour(results, s)
        ax.step(xs, ys, where="post", color=colour, label=f"{target_label(s)} ({s.encoding or 'json'})")
        ax.plot(xs, ys, "o", ms=3, color=colour)
        for key, q in SERVED_POINTS:  # an interval, where the results carry one, as a horizontal bar
            interval = interval_of(point, key) if len(points) == 1 else None
            if interval and interval[0] is not None and interval[1] is not None:
                ax.plot(list(interval), [_y(q)] * 2, color=colour, lw=3, alpha=0.4)
    _spectrum_axes(ax, f"Latency per stack at concurrency {c} (closed loop; median over repetitions)")
    ax.set_ylabel("percentile")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def runtime_ms(results: RunResults, s: ServedResult) -> float | None:
    """The in-process mean of the artifact the stack serves (server profile), at the thread count
    nearest the cores the server was given: what the runtime alone costs per request."""
    rows = [r for r in ok_local(results, "server") if r.get("artifact") == s.artifact]
    if not rows:
        return None
    cores = len(s.server_cores or []) or 1
    row = min(rows, key=lambda r: (abs((getf(r, "threads") or 1) - cores), getf(r, "threads") or 0))
    return getf(row, "mean_ms") or getf(row, "p50_ms")


def split_of(results: RunResults, s: ServedResult, c: int) -> list[float] | None:
    """The SEGMENTS of a stack's mean latency at concurrency c (ms each; None: not measured)."""
    points = sweep_repetitions(s).get(c)
    if not points:
        return None
    point = median_point(points)
    mean = getf(point, "mean_ms")
    if mean is None:
        return None
    queue, compute, rest = split_parts(point)
    runtime = runtime_ms(results, s) or 0.0
    if queue is None or compute is None or rest is None:
        runtime = min(runtime, mean)
        return [runtime, 0.0, 0.0, 0.0, mean - runtime]
    inside = min(runtime, compute)
    return [inside, compute - inside, queue, max(rest, 0.0), 0.0]


def time_split(results: RunResults) -> bytes | None:
    measured = [s for s in results.served if s.status == "OK" and sweep_repetitions(s)]
    c = common_concurrency(measured)
    splits: list[tuple[ServedResult, list[float]]] = []
    if c is not None:
        splits = [(s, parts) for s in measured if (parts := split_of(results, s, c)) is not None]
    if not splits:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, _height(len(splits)) + 0.6))
    used = set()
    for y, (_, parts) in enumerate(splits):
        left = 0.0
        for (name, colour), width in zip(SEGMENTS, parts, strict=True):
            if width > 0:
                ax.barh(y, width, left=left, color=colour, label=name if name not in used else None)
                used.add(name)
            left += width
        ax.text(left, y, f" {left:.2f} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(splits)), [target_label(s) for s, _ in splits])
    ax.invert_yaxis()
    ax.set_xlim(0, max(sum(p) for _, p in splits) * 1.2)
    ax.set_xlabel("mean ms per request")
    ax.set_title(f"Where a request's time goes at concurrency {c} (means: the server's counters add up)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, frameon=False)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _samples(slo: Any, batch: int) -> tuple[float | None, float | None, float | None]:
    """(SLO rate, bracket low, bracket high) in samples/s."""
    rate = getf(slo, "max_rate_rps")
    low = getf(slo, "rate_min_rps") if get(slo, "repetitions") else rate
    high = getf(slo, "bracket_high_rps") if get(slo, "repetitions") else getf(slo, "lowest_failing_rate_rps")

    def samples(v: float | None) -> float | None:
        return None if v is None else v * batch

    return samples(rate), samples(rate if low is None else low), samples(high)


def _samples_per_s(point: dict[str, Any], batch: int) -> float:
    """A closed-loop point's samples/s (older points only have requests/s: times the batch size)."""
    return getf(point, "throughput_samples_per_s") or (getf(point, "throughput_rps") or 0.0) * batch


def batch_samples(results: RunResults) -> bytes | None:
    stacks = [(s, workloads(s)) for s in results.served if s.status == "OK" and s.batches]
    if not stacks:
        return None
    sizes = sorted({batch for _, rows in stacks for batch, _, _ in rows})
    plt = _pyplot()
    fig, (ax_slo, ax_peak) = plt.subplots(1, 2, figsize=(12, 3.6))
    width = 0.8 / len(stacks)
    for i, (s, rows) in enumerate(stacks):
        colour = _colour(results, s)
        for batch, sweep, slo in rows:
            x = sizes.index(batch) + (i - (len(stacks) - 1) / 2) * width
            rate, low, high = _samples(slo, batch)
            if rate is not None:
                ax_slo.bar(x, rate, width, color=colour)
                if low is not None and high is not None:
                    ax_slo.errorbar(x, rate, yerr=[[rate - low], [high - rate]], color="black", capsize=3, lw=1)
            peak = max((_samples_per_s(p, batch) for p in sweep), default=0.0)
            if peak:
                ax_peak.bar(x, peak, width, color=colour)
    from matplotlib.patches import Patch

    ax_slo.legend(handles=[Patch(color=_colour(results, s), label=target_label(s)) for s, _ in stacks], fontsize=7)
    for ax, title in ((ax_slo, "within the SLO (bar: rate, line: bracket)"), (ax_peak, "closed loop, best level")):
        ax.set_xticks(range(len(sizes)), [str(b) for b in sizes])
        ax.set_xlabel("samples per request")
        ax.set_ylabel("samples/s")
        ax.set_title(f"Samples/s per request batch size: {title}", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def edge_rows(inputs: ReportInputs) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(device, artifact -> its OK row) for this machine's edge profile and each ingested device
    that is not emulated (an emulator's timings are not a device's)."""
    from .edge import emulated

    names = tflite_artifacts(inputs.results)
    devices = []
    local = {r["artifact"]: r for r in ok_local(inputs.results, "edge") if r.get("artifact") in names}
    if local:
        devices.append(("this machine, edge profile", local))
    for device, rows in inputs.edge.items():
        if emulated(rows):
            continue
        ok = {r["artifact"]: r for r in rows if r.get("status") == "OK" and r.get("artifact") in names}
        if ok:
            devices.append((device, ok))
    return devices


def edge_latency(inputs: ReportInputs) -> bytes | None:
    devices = edge_rows(inputs)
    if not devices:
        return None
    artifacts = sorted({a for _, rows in devices for a in rows})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, _height(len(artifacts) * max(1, len(devices) // 2 + 1))))
    height = 0.8 / len(devices)
    palette = plt.get_cmap("Set2")
    for i, (device, rows) in enumerate(devices):
        for j, artifact in enumerate(artifacts):
            row = rows.get(artifact)
            p50 = getf(row, "p50_ms")
            if row is None or p50 is None:
                continue
            y = j + (i - (len(devices) - 1) / 2) * height
            ax.barh(y, p50, height, color=palette(i), label=device if j == 0 or artifact == min(rows) else None)
            reps = [v for r in bench_repetitions(row) if (v := getf(r, "p50_ms")) is not None]
            if len(reps) > 1:
                ax.plot([min(reps), max(reps)], [y, y], color="black", lw=1.2)
            p99 = getf(row, "p99_ms")
            if p99 is not None:
                ax.plot([p99], [y], marker="|", ms=8, color="crimson")
    ax.set_yticks(range(len(artifacts)), artifacts)
    ax.invert_yaxis()
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set_xlabel("ms per request, batch 1 (log scale)")
    ax.set_title("Edge latency per file and device: bar p50, black line range over repetitions, red | p99", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="lower right")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    return _png(fig)
