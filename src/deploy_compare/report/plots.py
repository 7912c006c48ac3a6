"""Plots as PNG bytes (matplotlib, Agg backend). A plot without data returns None.

PNGs are written without a Software/date stamp so re-rendering a run is byte-identical.
"""

from __future__ import annotations

import io
import math
import os
from math import nan
from typing import Any

from ..deploy.results import RunResults
from .fmt import get, getf
from .names import (
    artifact_accuracy,
    footprint_row,
    ok_local,
    reference_accuracy,
    slo_trials,
    sweep_points,
    target_label,
    tflite_artifacts,
)

os.environ.setdefault("MPLBACKEND", "Agg")

#: percentile -> vertical position on a "percentile spectrum" axis: -log10(1 - q), so p90, p99 and
#: p99.9 are evenly spaced and the tail is readable (HdrHistogram's plot).
SERVED_POINTS = (
    ("min_ms", 0.0),
    ("p50_ms", 0.5),
    ("p90_ms", 0.9),
    ("p95_ms", 0.95),
    ("p99_ms", 0.99),
    ("p999_ms", 0.999),
    ("max_ms", None),
)
LOCAL_POINTS = (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", None))
MAX_Y = 3.5
TICKS = ((0.0, "min"), (-math.log10(0.5), "p50"), (1.0, "p90"), (2.0, "p99"), (3.0, "p99.9"), (MAX_Y, "max"))
DPI = 90


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # Every plot calls fig.tight_layout(); bbox_inches="tight" on top of it would draw each figure
    # twice (to measure, then to save): about a third of a report's rendering time.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def _plain_log_axis(axis) -> None:
    """Log axis labelled 1, 2, 5, 10, 20 ... instead of 2x10^0 (readable at a glance)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _y(q: float | None) -> float:
    return MAX_Y if q is None else (0.0 if q <= 0 else -math.log10(1 - q))


def _spectrum(d: dict[str, Any], points) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for key, q in points:
        v = getf(d, key)
        if v is not None and v > 0:
            xs.append(v)
            ys.append(_y(q))
    return xs, ys


def _spectrum_axes(ax, title: str) -> None:
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set_yticks([t for t, _ in TICKS], [label for _, label in TICKS])
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def latency_cdf(results: RunResults) -> bytes | None:
    served = [(s, sweep_points(s)) for s in results.served if s.status == "OK" and sweep_points(s)]
    # Per artifact, the server-profile thread count with the lowest p50 (one line per artifact).
    local: dict[str, dict[str, Any]] = {}
    best_p50: dict[str, float] = {}
    for r in ok_local(results, "server"):
        p50 = getf(r, "p50_ms")
        if p50 is not None and p50 < best_p50.get(r["artifact"], math.inf):
            local[r["artifact"]], best_p50[r["artifact"]] = r, p50
    if not served and not local:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    cmaps = ["Blues", "Oranges", "Greens", "Purples"]
    for i, (s, points) in enumerate(served):
        cmap = plt.get_cmap(cmaps[i % len(cmaps)])
        for j, p in enumerate(points):
            xs, ys = _spectrum(p, SERVED_POINTS)
            shade = 0.45 + 0.5 * (j / max(1, len(points) - 1))
            ax_label = f"{target_label(s)} c={get(p, 'concurrency')}"
            axes[0].plot(xs, ys, marker="o", ms=3, color=cmap(shade), label=ax_label)
    _spectrum_axes(axes[0], "Served (closed loop), per concurrency")
    if served:
        axes[0].legend(fontsize=7, loc="lower right")
    else:
        axes[0].text(0.5, 0.5, "no served target ran", ha="center", transform=axes[0].transAxes)
    palette = plt.get_cmap("tab10")
    for i, (name, r) in enumerate(sorted(local.items())):
        xs, ys = _spectrum(r, LOCAL_POINTS)
        axes[1].plot(xs, ys, marker="o", ms=3, color=palette(i % 10), label=f"{name} ({r.get('threads')} thr)")
    _spectrum_axes(axes[1], "In-process, server profile, batch 1")
    if local:
        axes[1].legend(fontsize=7)
    axes[0].set_ylabel("percentile")
    fig.tight_layout()
    return _png(fig)


def ci_yerr(points: list[dict], key: str) -> list[list[float]]:
    """Error bars from each point's 95% interval (<key>_ci_ms): [below, above] the value; an
    end the samples could not bound (or a point without an interval) draws no bar that side."""
    below, above = [], []
    for p in points:
        value, ci = getf(p, key), get(p, key.removesuffix("_ms") + "_ci_ms")
        low, high = ci if isinstance(ci, list) and len(ci) == 2 else (None, None)
        below.append(0.0 if value is None or low is None else max(value - low, 0.0))
        above.append(0.0 if value is None or high is None else max(high - value, 0.0))
    return [below, above]


def throughput_vs_concurrency(results: RunResults) -> bytes | None:
    served = [(s, sweep_points(s)) for s in results.served if s.status == "OK" and sweep_points(s)]
    if not served:
        return None
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(12, 3.8))
    for s, points in served:
        conc = [getf(p, "concurrency") for p in points]
        line = ax_t.plot(conc, [getf(p, "throughput_rps") for p in points], marker="o", label=target_label(s))[0]
        for key, marker, ls in (("p50_ms", "o", "-"), ("p99_ms", "s", "--")):
            ax_l.errorbar(
                conc,
                [nan if getf(p, key) is None else getf(p, key) for p in points],
                yerr=ci_yerr(points, key),
                marker=marker,
                ls=ls,
                capsize=3,
                color=line.get_color(),
                label=f"{target_label(s)} {key.removesuffix('_ms')} (95% interval)",
            )
    for ax in (ax_t, ax_l):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({get(p, "concurrency") for _, points in served for p in points}))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("concurrency (closed-loop clients)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_ylabel("throughput (req/s)")
    ax_t.set_title("Throughput vs concurrency", fontsize=10)
    ax_l.set_ylabel("latency (ms)")
    ax_l.set_title("Latency vs concurrency", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def latency_vs_rate(results: RunResults) -> bytes | None:
    searched = [(s, slo_trials(s)) for s in results.served if s.status == "OK" and slo_trials(s)]
    if not searched:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 4))
    p99s = [getf(t, "result", "p99_incl_failures_ms") for _, ts in searched for t in ts]
    finite = [v for v in p99s if v is not None]
    bounds = [b for s, _ in searched if (b := getf(s.slo, "p99_bound_ms")) is not None]
    top = max(finite + bounds + [1.0]) * 1.3  # where unbounded (failed) trials are drawn
    for s, trials in searched:
        trials = sorted(trials, key=lambda t: getf(t, "rate_rps") or 0.0)  # every repetition's, on one line
        rates = [getf(t, "rate_rps") for t in trials]
        p99 = [getf(t, "result", "p99_incl_failures_ms") for t in trials]
        ys = [top if v is None else v for v in p99]
        line = ax.plot(rates, ys, ls="-", alpha=0.6, label=f"{target_label(s)} p99 (failures counted)")[0]
        for rate, y, t in zip(rates, ys, trials):
            ax.plot(
                [rate],
                [y],
                marker="o" if get(t, "passed") else "x",
                ms=7,
                color=line.get_color(),
                mfc=line.get_color() if get(t, "passed") else "none",
            )
    for bound in sorted(set(bounds)):
        ax.axhline(bound, color="crimson", ls="--", lw=1.2, label=f"SLO: p99 <= {bound:g} ms")
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis)
    ax.set_xlabel("offered rate (req/s, open loop)")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.set_title("Latency vs offered rate (o passed, x failed; failed runs with unbounded p99 at the top)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def tflite_variants(results: RunResults) -> bytes | None:
    variants = tflite_artifacts(results)
    if not variants:
        return None
    names = list(variants)
    rows = {n: footprint_row(results, n) for n in names}

    def values(fn):
        return [fn(n) for n in names]

    panels = [
        ("file size (KiB)", values(lambda n: (getf(variants[n], "size_bytes") or 0) / 1024 or None)),
        ("peak RSS (MiB)", values(lambda n: getf(rows[n], "peak_rss_mib"))),
        ("p50 latency (ms)", values(lambda n: getf(rows[n], "p50_ms"))),
        (
            "accuracy (%)",
            values(lambda n: None if (accuracy := artifact_accuracy(variants[n])) is None else accuracy * 100),
        ),
    ]
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.4))
    labels = [n.replace("tflite_", "") for n in names]
    for ax, (title, vals) in zip(axes, panels):
        heights = [0 if v is None else v for v in vals]
        bars = ax.bar(labels, heights, color=plt.get_cmap("tab10")(range(len(names))))
        for bar, v in zip(bars, vals):
            ax.annotate(
                "n/a" if v is None else f"{v:.3g}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    ref = reference_accuracy(results)
    acc_values = [v for v in panels[-1][1] if v is not None]
    if ref is not None:
        axes[-1].axhline(ref * 100, color="crimson", ls="--", lw=1, label="fp32 PyTorch")
        axes[-1].legend(fontsize=7, loc="lower right")
    if acc_values:
        low = min(acc_values + ([ref * 100] if ref is not None else []))
        axes[-1].set_ylim(max(0.0, low - 5), 100.5)
    fig.suptitle("TFLite variants: footprint, latency (edge profile where measured) and accuracy", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def time_series(results: RunResults) -> bytes | None:
    """Per-second throughput and p99 of every closed-loop level, one row per served target,
    the levels one after another on the time axis as they ran; seconds with errors marked x."""
    served = [
        (s, [p for p in sweep_points(s) if get(p, "timeseries", "t_s")]) for s in results.served if s.status == "OK"
    ]
    served = [(s, points) for s, points in served if points]
    if not served:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(served), 2, figsize=(12, 2.6 * len(served)), squeeze=False)
    for (s, points), (ax_t, ax_l) in zip(served, axes):
        offset = 0.0
        for p in points:
            ts = get(p, "timeseries")
            width = getf(ts, "bucket_s") or 1.0
            xs = [offset + float(t) for t in ts["t_s"]]
            line = ax_t.plot(xs, ts["throughput_rps"], label=f"c={get(p, 'concurrency')}")[0]
            p99 = [float("nan") if v is None else v for v in ts["p99_ms"]]
            ax_l.plot(xs, p99, color=line.get_color())
            bad = [(x, y) for x, y, e in zip(xs, p99, ts["errors"]) if e]
            if bad:
                ax_l.plot([x for x, _ in bad], [y for _, y in bad], "x", color="crimson", ms=6)
            offset = xs[-1] + width + 1.0
        ax_t.set_title(f"{target_label(s)}: throughput per second", fontsize=9)
        ax_l.set_title(f"{target_label(s)}: p99 per second (x: errors)", fontsize=9)
        ax_t.set_ylabel("req/s")
        ax_l.set_ylabel("ms")
        ax_l.set_yscale("log")
        _plain_log_axis(ax_l.yaxis)
        for ax in (ax_t, ax_l):
            ax.set_xlabel("seconds of measurement (levels in the order run)")
            ax.grid(True, alpha=0.3)
        ax_t.legend(fontsize=7, ncol=5)
    fig.tight_layout()
    return _png(fig)
