"""Load a frozen TorchScript file at its fastest: with `torch.jit.optimize_for_inference`, or
without it where that is measured slower, per batch size.

TorchServe's performance guide recommends optimize_for_inference, and on MobileNetV2@96 it
takes a frozen trace from 5.1 to 2.9 ms a sample. On the built-in digits CNN it makes one
sample 2-4x slower (0.05-0.09 -> 0.18-0.30 ms) and a batch of 8 or 32 2.5-3x faster: its
layout conversions cost a fixed time a call. So the loader times both on one sample and on a
batch of BATCH_PROBE, and keeps what wins at each: below BATCH_PROBE samples the batch-1
winner runs, from BATCH_PROBE up the other one. What it chose and why is its `applied` text.

This file imports only the standard library (torch is passed in): TorchServe's archive ships
it beside the handler, whose worker cannot import deploy_compare, so the worker and the
in-process runtime apply one rule to the same file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

WARMUP_CALLS = 5  # the profiling executor optimizes on the second call; a few more to settle
TIMED_CALLS = 15  # per candidate and batch size, the median of these
BUDGET_S = 1.0  # per candidate and batch size: a large model is timed on fewer calls
BATCH_PROBE = 8  # the second batch size timed: where the split between the two, if any, lies
#: what load_fastest records for a frozen file it timed (the tests match it)
TIMED_PATTERN = (
    r"(applied|not kept: measured slower|applied from batch \d+ up, frozen alone below"
    r"|applied below batch \d+, frozen alone from it) "
    r"\(ms a call with it against frozen alone: batch 1 [\d.e+-]+ / [\d.e+-]+, batch \d+ [\d.e+-]+ / [\d.e+-]+\)"
)


def one_sample(torch: Any, inputs: list[tuple[list[Any], str]]) -> list[Any] | None:
    """A batch of one sample of ones per input, from each input's (shape with its batch
    dimension first, dtype name); None when an inner dimension is dynamic (nothing to time on)."""
    if any(d is None for shape, _ in inputs for d in shape[1:]):
        return None
    return [torch.ones([1, *(int(d) for d in shape[1:])], dtype=getattr(torch, dtype)) for shape, dtype in inputs]


def _median_ms(torch: Any, module: Any, example: list[Any]) -> float:
    times: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    with torch.inference_mode():
        for i in range(WARMUP_CALLS + TIMED_CALLS):
            start = time.perf_counter()
            module(*example)
            if i >= WARMUP_CALLS:
                times.append((time.perf_counter() - start) * 1000)
            if time.perf_counter() > deadline and times:
                break
    return sorted(times)[len(times) // 2]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class BatchSplit:
    """One module below `at` samples, the other from it up (the batch is the first dimension)."""

    def __init__(self, below: Any, from_at: Any, at: int) -> None:
        self.below, self.from_at, self.at = below, from_at, at

    def __call__(self, *args: Any) -> Any:
        return (self.below if args[0].shape[0] < self.at else self.from_at)(*args)


def load_fastest(torch: Any, load: Callable[[], Any], frozen: bool, example: list[Any] | None) -> tuple[Any, str]:
    """(callable module, what was applied). `load` returns a fresh module each call
    (optimize_for_inference rewrites a frozen module in place, so each candidate needs its
    own); `example` is one sample per input, batch dimension 1 (None: optimize, untimed)."""
    module = load()
    if not frozen:
        return module, "not applied (the file is not frozen)"
    try:
        candidate = torch.jit.optimize_for_inference(load())
    except Exception as exc:  # keep the frozen module: still correct, only slower
        return module, f"failed, frozen module kept ({_first_line(exc)})"
    if example is None:
        return candidate, "applied"
    batch = [t.repeat(BATCH_PROBE, *([1] * (t.dim() - 1))) for t in example]
    try:
        ms = [_median_ms(torch, m, x) for x in (example, batch) for m in (candidate, module)]
    except Exception as exc:  # the optimized graph cannot run this input: the frozen one can
        return module, f"failed on a sample, frozen module kept ({_first_line(exc)})"
    one, many = ms[0] <= ms[1], ms[2] <= ms[3]  # the optimized module wins at batch 1, at BATCH_PROBE
    timing = (
        f"(ms a call with it against frozen alone: batch 1 {ms[0]:.3g} / {ms[1]:.3g}, "
        f"batch {BATCH_PROBE} {ms[2]:.3g} / {ms[3]:.3g})"
    )
    if one and many:
        return candidate, f"applied {timing}"
    if not one and not many:
        return module, f"not kept: measured slower {timing}"
    if many:
        return BatchSplit(
            module, candidate, BATCH_PROBE
        ), f"applied from batch {BATCH_PROBE} up, frozen alone below {timing}"
    return BatchSplit(
        candidate, module, BATCH_PROBE
    ), f"applied below batch {BATCH_PROBE}, frozen alone from it {timing}"
