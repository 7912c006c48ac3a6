"""Harness overhead: a no-op runtime through the SAME timing loop the benchmarks use.

    .venv/bin/python bench/harness_overhead.py      # or: make bench

Prints, per case, the median over repetitions of
  * in-sample us: the median recorded duration of a call that does nothing, i.e. what
    the harness adds to every latency sample (clock read + the call + the runtime's
    input checks / layout / quantization work);
  * per-iteration us: wall time / iterations, i.e. everything the loop costs per call
    (what bounds a throughput figure).
Exits 1 when the gated case (a NoOp Runtime.predict on a float32 NCHW model: the
runtime interface's checks + the timing loop) costs >= 5 us per iteration. The other
cases are for information: a layout transpose and int8 quantize/dequantize are real
work every NHWC / full-int8 artifact pays, and they are inside its latency on purpose.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable

import numpy as np

from deploy_compare.bench_local.timing import time_calls
from deploy_compare.manifest import ArtifactEntry, QuantParams, TensorSpec
from deploy_compare.runtimes.base import Runtime

TARGET_US = 5.0


class NoOpRuntime(Runtime):
    """A runtime whose engine returns a preallocated output: only the interface's own work remains."""

    name = "noop"

    def _load(self) -> None:
        dtype = self.output_spec.dtype
        self._out = np.zeros((1, 10), dtype=dtype)

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._out


def noop_runtime(layout: str, dtype: str) -> NoOpRuntime:
    shape = [None, 1, 8, 8] if layout == "NCHW" else [None, 8, 8, 1]
    quant_in = QuantParams(1 / 255, -128) if dtype == "int8" else None
    quant_out = QuantParams(0.2, 8) if dtype == "int8" else None
    entry = ArtifactEntry(
        name=f"noop_{layout}_{dtype}",
        format="onnx",
        variant="fp32",
        path="-",
        size_bytes=0,
        sha256="-",
        inputs=[TensorSpec("input", shape, dtype, layout, quant_in)],
        outputs=[TensorSpec("logits", [None, 10], dtype, "NC", quant_out)],
        export_seconds=0.0,
        tools={},
    )
    return NoOpRuntime("-", entry, "NCHW", threads=1)


def measure_case(fn: Callable[[np.ndarray], object], repetitions: int, iterations: int) -> tuple[float, float]:
    inputs = [np.random.default_rng(i).random((1, 1, 8, 8), dtype=np.float32) for i in range(16)]
    for x in inputs[:4]:
        fn(x)  # warm-up
    in_sample, per_iteration = [], []
    for _ in range(repetitions):
        timing = time_calls(fn, inputs, min_iterations=iterations, min_duration_s=0.0, max_iterations=iterations)
        in_sample.append(float(np.median(timing.samples_ns)) / 1e3)
        per_iteration.append(timing.wall_ns / len(timing.samples_ns) / 1e3)
    return statistics.median(in_sample), statistics.median(per_iteration)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=200_000)
    args = parser.parse_args(argv)

    out = np.zeros((1, 10), np.float32)
    cases = [
        ("timing loop, bare no-op callable", lambda x: out, False),
        ("timing loop + NoOp Runtime.predict, NCHW float32", noop_runtime("NCHW", "float32").predict, True),
        ("  (info) + NCHW->NHWC transpose", noop_runtime("NHWC", "float32").predict, False),
        ("  (info) + NHWC transpose + int8 quantize/dequantize", noop_runtime("NHWC", "int8").predict, False),
    ]
    print(
        f"harness overhead: median of {args.repetitions} repetitions x {args.iterations} calls "
        f"(python {sys.version.split()[0]}, numpy {np.__version__})"
    )
    print(f"{'case':<56} {'in-sample us':>12} {'per-iteration us':>17}")
    gated = None
    for label, fn, is_gated in cases:
        in_sample, per_iteration = measure_case(fn, args.repetitions, args.iterations)
        print(f"{label:<56} {in_sample:>12.3f} {per_iteration:>17.3f}{'   <- gated' if is_gated else ''}")
        if is_gated:
            gated = per_iteration
    ok = gated is not None and gated < TARGET_US
    print(
        f"\n{'PASS' if ok else 'FAIL'}: runtime interface + timing loop cost {gated:.3f} us per call "
        f"(target < {TARGET_US:g} us)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
