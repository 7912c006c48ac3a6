"""Parity of an artifact with the PyTorch model on the held-out set.

Figures: max abs diff of outputs, top-1 agreement with PyTorch, accuracy. Thresholds
by variant: float paths must match to 1e-4 with 100% top-1 agreement, fp16 must agree
on >= 99% of top-1, int8 must stay within 2 accuracy points of the fp32 model.

An int8 file that loses more than its budget is a finding, not a broken file: its parity
does not pass (nothing serves or ships it) but it is marked `over_budget`, the export goes
on, and its loss is recorded with a 95% interval from the paired samples (confidence.py),
which on 111 samples (an image preset at 224x224) is several points wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..batches import Batch, batch_len, take
from ..confidence import paired_difference
from ..errors import ConfigError
from ..evaldata import EvalData
from ..manifest import ArtifactEntry, Manifest, Parity
from ..statistics import top1_accuracy, top1_agreement

BATCH = 64


@dataclass(frozen=True)
class ParityThresholds:
    float_max_abs_diff: float = 1e-4
    float_min_top1_agreement: float = 1.0
    fp16_min_top1_agreement: float = 0.99
    int8_max_accuracy_drop: float = 0.02  # 2 points of accuracy
    # Without labels there is no accuracy; int8 is then held to top-1 agreement instead.
    int8_min_top1_agreement_without_labels: float = 0.98

    def __post_init__(self) -> None:
        for name in (
            "float_min_top1_agreement",
            "fp16_min_top1_agreement",
            "int8_min_top1_agreement_without_labels",
            "int8_max_accuracy_drop",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"ParityThresholds.{name} must be within [0, 1], got {value}")
        if self.float_max_abs_diff < 0:
            raise ConfigError(f"ParityThresholds.float_max_abs_diff must be >= 0, got {self.float_max_abs_diff}")


def run_in_batches(runtime, x: Batch, batch: int = BATCH) -> np.ndarray:
    return np.concatenate([runtime.predict(take(x, slice(i, i + batch))) for i in range(0, batch_len(x), batch)])


def reference_accuracy(data: EvalData) -> float | None:
    """The PyTorch model's accuracy on the held-out set (None without labels)."""
    return None if data.y is None else top1_accuracy(data.reference, data.y)


def parity_of(entry: ArtifactEntry, outputs: np.ndarray, data: EvalData, thresholds: ParityThresholds) -> Parity:
    max_abs_diff = float(np.abs(outputs - data.reference).max())
    agreement = top1_agreement(outputs, data.reference)
    ref_acc = reference_accuracy(data)
    acc = top1_accuracy(outputs, data.y) if data.y is not None else float("nan")
    failures = []
    label = f"{entry.name} ({entry.path})"
    if entry.variant == "fp32":
        if max_abs_diff > thresholds.float_max_abs_diff:
            failures.append(f"{label}: max abs diff {max_abs_diff:.3g} > threshold {thresholds.float_max_abs_diff:.3g}")
        if agreement < thresholds.float_min_top1_agreement:
            failures.append(
                f"{label}: top-1 agreement {agreement:.2%} < threshold {thresholds.float_min_top1_agreement:.2%}"
            )
    elif entry.variant == "fp16":
        if agreement < thresholds.fp16_min_top1_agreement:
            failures.append(
                f"{label}: top-1 agreement {agreement:.2%} < threshold {thresholds.fp16_min_top1_agreement:.2%}"
            )
    elif ref_acc is not None and data.y is not None:  # int8 variants, with labels
        drop = paired_difference(_right(data.reference, data.y), _right(outputs, data.y))
        interval = [drop.low_points, drop.high_points]
        floor = ref_acc - thresholds.int8_max_accuracy_drop
        over = acc < floor
        if over:
            failures.append(
                f"{label}: accuracy {acc:.2%} is more than {thresholds.int8_max_accuracy_drop * 100:.0f} "
                f"points below fp32's {ref_acc:.2%} (threshold {floor:.2%}): loses "
                f"{drop.difference_points:.1f} points, 95% interval {drop.low_points:.1f} to "
                f"{drop.high_points:.1f} on {drop.samples} samples"
            )
        return _parity(outputs, max_abs_diff, agreement, acc, ref_acc, failures, drop.difference_points, interval, over)
    elif agreement < thresholds.int8_min_top1_agreement_without_labels:
        failures.append(
            f"{label}: top-1 agreement {agreement:.2%} < threshold "
            f"{thresholds.int8_min_top1_agreement_without_labels:.2%} (no labels given)"
        )
        return _parity(outputs, max_abs_diff, agreement, None, ref_acc, failures, over_budget=True)
    return _parity(outputs, max_abs_diff, agreement, acc if data.y is not None else None, ref_acc, failures)


def _right(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.asarray(logits).argmax(axis=1) == np.asarray(labels)


def _parity(
    outputs: np.ndarray,
    max_abs_diff: float,
    agreement: float,
    acc: float | None,
    ref_acc: float | None,
    failures: list[str],
    drop_points: float | None = None,
    interval: list[float] | None = None,
    over_budget: bool = False,
) -> Parity:
    return Parity(
        samples=int(len(outputs)),
        max_abs_diff=max_abs_diff,
        top1_agreement=agreement,
        accuracy=acc,
        reference_accuracy=ref_acc,
        passed=not failures,
        failures=failures,
        accuracy_drop_points=drop_points,
        accuracy_drop_interval_points=interval,
        over_budget=over_budget,
    )


def verify_artifact(
    directory: Path,
    manifest: Manifest,
    name: str,
    data: EvalData,
    thresholds: ParityThresholds = ParityThresholds(),
    check_hash: bool = True,
) -> Parity:
    """Load the artifact in its runtime, run the held-out set, compare with PyTorch."""
    from ..runtimes import open_runtime

    entry = manifest.artifact(name)
    with open_runtime(directory, manifest, name, check_hash=check_hash) as runtime:
        outputs = run_in_batches(runtime, data.x)
    return parity_of(entry, outputs, data, thresholds)
