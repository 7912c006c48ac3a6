"""The measurement procedure for one loaded model: what is timed, in which order.

    first inference -> warm-up -> single-stream latency (batch 1, back to back)
    -> throughput at each batch size (warm-up per size) -> sampled correctness

`predict` is any callable taking a float32 batch in the logical layout and returning
float32 outputs (a runtimes.Runtime.predict, or the edge runner's TFLite wrapper).
A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax): edge-bundle
assembles it into the standalone run_edge.py (edge/assemble.py), so both report the same
figures.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..batches import Batch, batch_len, take
from ..statistics import LatencyStats, latency_summary, precise, throughput_per_s, top1_agreement
from .timing import time_calls


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how often to measure. Both a minimum count AND a minimum duration apply.

    The defaults are the full profile and quick() the --quick one, for every command
    (run, bench-local) and the edge runner alike; [local.measure] in a config overrides them.
    """

    warmup_iterations: int = 20
    min_iterations: int = 300  # single-stream
    min_duration_s: float = 1.0  # single-stream (past it, precision decides: see below)
    max_iterations: int = 1_000_000  # record array size; stops a loop of very fast calls
    batch_sizes: Tuple[int, ...] = (1, 8, 32)
    throughput_min_iterations: int = 30  # per batch size (batch 1 reuses the single-stream run)
    throughput_min_duration_s: float = 1.0
    correctness_samples: int = 256  # held-out samples checked against the reference; 0 = none
    # Past the minimum, the single-stream run goes on until its p50 and p99 95% intervals are
    # each at most `precision` of their estimate wide (None: stop at the minimum), for at most
    # max_duration_s in all (issue 23); the row records how it stopped.
    # The cap is short: the default run measures 36 rows, and a busy machine's tail keeps p99
    # wide for long (a 10 s cap made the in-process stage 6.2 min a repetition). The minimum
    # is short too: at 3 s, rows of 150,000 sub-millisecond calls were precise long before it.
    precision: Optional[float] = 0.10
    max_duration_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("warmup_iterations", "correctness_samples"):
            if getattr(self, name) < 0:
                raise ValueError(f"MeasureSettings.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("min_iterations", "throughput_min_iterations", "max_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"MeasureSettings.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_duration_s", "throughput_min_duration_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"MeasureSettings.{name} must be >= 0 seconds, got {getattr(self, name)}")
        if self.max_iterations < max(self.min_iterations, self.throughput_min_iterations):
            raise ValueError(
                f"MeasureSettings.max_iterations ({self.max_iterations}) must be >= "
                f"min_iterations and throughput_min_iterations"
            )
        if self.precision is not None and not 0 < self.precision < 10:
            raise ValueError(f"MeasureSettings.precision must be in (0, 10) or None, got {self.precision}")
        if self.max_duration_s < self.min_duration_s:
            raise ValueError(
                f"MeasureSettings.max_duration_s ({self.max_duration_s}) must be >= min_duration_s ({self.min_duration_s})"
            )
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ValueError(f"MeasureSettings.batch_sizes must be positive integers, got {self.batch_sizes}")
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))

    @classmethod
    def quick(cls) -> "MeasureSettings":
        """Seconds instead of minutes: for CI, tests and a first look (figures are rough)."""
        return cls(
            warmup_iterations=5,
            min_iterations=50,
            min_duration_s=0.5,
            throughput_min_iterations=5,
            throughput_min_duration_s=0.25,
            correctness_samples=64,
            precision=0.5,
            max_duration_s=2.0,
        )

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["batch_sizes"] = list(self.batch_sizes)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "MeasureSettings":
        d = dict(d)
        if "batch_sizes" in d:
            d["batch_sizes"] = tuple(d["batch_sizes"])
        return cls(**d)


@dataclass
class Measurement:
    first_inference_ms: float
    latency: LatencyStats
    single_stream_duration_s: float
    throughput_samples_per_s: Dict[int, float]
    top1_agreement: Optional[float]  # None when no reference outputs were given
    samples_checked: int
    notes: List[str] = field(default_factory=list)
    stop_reason: str = ""  # the single-stream run: "precise", "duration", "max duration", "max iterations"


def _batches(x: Batch, size: int, count: int) -> List[Batch]:
    """`count` contiguous batches of `size` samples, cycling through x when it is short."""
    idx = np.arange(size * count) % batch_len(x)
    return [take(x, idx[i * size : (i + 1) * size]) for i in range(count)]


def measure(
    predict: Callable[[Any], np.ndarray],
    x: Batch,
    reference: Optional[np.ndarray],
    settings: MeasureSettings,
) -> Measurement:
    """Run the procedure on held-out inputs x (logical layout, float32; or named inputs) and
    their reference outputs."""
    if batch_len(x) == 0:
        raise ValueError("measure: no input samples")
    notes: List[str] = []
    singles = _batches(x, 1, min(batch_len(x), 256))
    clock = time.perf_counter_ns

    t0 = clock()
    predict(singles[0])
    first_inference_ms = (clock() - t0) / 1e6

    for i in range(settings.warmup_iterations):
        predict(singles[i % len(singles)])
    single, stop_reason = _time_until_precise(predict, singles, settings)
    if not single.reached_min_duration:
        notes.append(
            f"single-stream stopped at max_iterations={settings.max_iterations} "
            f"before min_duration_s={settings.min_duration_s}"
        )
    latency = latency_summary(single.samples_ns)

    throughput: Dict[int, float] = {}
    for size in settings.batch_sizes:
        if size == 1:
            # Single-stream IS batch-1 back to back: reuse it rather than spend the time twice.
            throughput[1] = throughput_per_s(len(single.samples_ns), single.wall_ns)
            continue
        batches = _batches(x, size, 4)
        for i in range(max(1, settings.warmup_iterations // 4)):  # also re-plans a dynamic batch
            predict(batches[i % len(batches)])
        timing = time_calls(
            predict,
            batches,
            settings.throughput_min_iterations,
            settings.throughput_min_duration_s,
            settings.max_iterations,
        )
        throughput[size] = throughput_per_s(size * len(timing.samples_ns), timing.wall_ns)

    agreement: Optional[float] = None
    checked = 0
    if reference is not None and settings.correctness_samples > 0:
        n = min(settings.correctness_samples, batch_len(x))
        outputs = np.concatenate([predict(take(x, slice(i, min(i + 32, n)))) for i in range(0, n, 32)])
        agreement = top1_agreement(outputs, reference[:n])
        checked = n
    return Measurement(
        first_inference_ms=first_inference_ms,
        latency=latency,
        single_stream_duration_s=single.wall_ns / 1e9,
        throughput_samples_per_s=throughput,
        top1_agreement=agreement,
        samples_checked=checked,
        notes=notes,
        stop_reason=stop_reason,
    )


#: past the minimum, the single-stream run is extended in slices of this length between checks
PRECISION_SLICE_S = 0.5


def _time_until_precise(predict: Callable[[Any], Any], inputs: List[Any], settings: MeasureSettings) -> Tuple[Any, str]:
    """The minimum (min_iterations AND min_duration_s), then further slices until the p50 and
    p99 intervals are narrow (statistics.precise), max_duration_s or max_iterations: the
    timing of all of it, and which rule stopped it."""
    first = time_calls(predict, inputs, settings.min_iterations, settings.min_duration_s, settings.max_iterations)
    if settings.precision is None:
        return first, "duration" if first.reached_min_duration else "max iterations"
    parts, wall, count = [first.samples_ns], first.wall_ns, len(first.samples_ns)
    reason = ""
    while not reason:
        if precise(latency_summary(np.concatenate(parts)), settings.precision):
            reason = "precise"
        elif wall >= settings.max_duration_s * 1e9:
            reason = "max duration"
        elif count >= settings.max_iterations:
            reason = "max iterations"
        else:
            more = time_calls(predict, inputs, 1, PRECISION_SLICE_S, settings.max_iterations - count)
            parts.append(more.samples_ns)
            wall, count = wall + more.wall_ns, count + len(more.samples_ns)
    return replace(first, samples_ns=np.concatenate(parts), wall_ns=wall), reason


def measure_invoke_only(
    run: Callable[[Any], Any], prepare: Callable[[Any], Any], x: Batch, settings: MeasureSettings
) -> LatencyStats:
    """Batch-1 latency of the engine call alone, like TFLite's benchmark_model times Invoke().

    The inputs are converted (layout, int8 quantization) by `prepare` BEFORE timing, so
    only `run` (for TFLite: set_tensor + invoke + get_tensor) is inside the clock; the
    same counts and durations as the end-to-end single-stream run apply.
    """
    if batch_len(x) == 0:
        raise ValueError("measure_invoke_only: no input samples")
    prepared = [prepare(b) for b in _batches(x, 1, min(batch_len(x), 256))]
    for i in range(settings.warmup_iterations):
        run(prepared[i % len(prepared)])
    timing, _ = _time_until_precise(run, prepared, settings)
    return latency_summary(timing.samples_ns)
