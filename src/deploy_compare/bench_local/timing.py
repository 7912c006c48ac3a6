"""The timing loop: call a function back to back, record each call's duration.

Timing only; statistics live in deploy_compare/statistics.py. A pure module (stdlib + numpy only, Python 3.9
syntax): edge-bundle assembles it into the standalone run_edge.py (edge/assemble.py),
so the device times exactly as the local benchmark does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Timing:
    samples_ns: np.ndarray  # int64, duration of each timed call, in call order
    wall_ns: int  # first call's start to last call's end, loop bookkeeping included
    reached_min_duration: bool  # False when max_iterations stopped the loop first


def time_calls(
    fn: Callable[[Any], Any], inputs: Sequence[Any], min_iterations: int, min_duration_s: float, max_iterations: int
) -> Timing:
    """Call fn(inputs[i % len(inputs)]) until BOTH min_iterations and min_duration_s are reached.

    The record array is preallocated and the loop does nothing but read the clock, call
    and store, so the harness adds well under a microsecond per call
    (bench/harness_overhead.py measures it). Warm-up is the caller's job.
    """
    if not inputs:
        raise ValueError("time_calls: inputs must not be empty")
    if not 1 <= min_iterations <= max_iterations:
        raise ValueError(
            f"time_calls: need 1 <= min_iterations ({min_iterations}) <= max_iterations ({max_iterations})"
        )
    samples = np.empty(max_iterations, dtype=np.int64)
    clock = time.perf_counter_ns
    n_inputs = len(inputs)
    i = 0
    start = clock()
    deadline = start + int(min_duration_s * 1e9)
    end = start
    while i < max_iterations:
        x = inputs[i % n_inputs]
        t0 = clock()
        fn(x)
        end = clock()
        samples[i] = end - t0
        i += 1
        if i >= min_iterations and end >= deadline:
            break
    return Timing(samples[:i].copy(), end - start, end >= deadline)
