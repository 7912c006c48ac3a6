"""The accuracy difference of two models scored on the SAME samples, with its interval.

A quantized file and the PyTorch model answer the same held-out samples, so their
accuracies are paired: what differs is only the discordant samples (one right, the other
wrong). The interval is Newcombe's hybrid score interval for a difference of paired
proportions (Newcombe 1998, "Improved confidence intervals for the difference between
binomial proportions based on paired data", method 10): Wilson score intervals of the two
accuracies combined with the correlation of the 2x2 table. It stays inside [-1, 1], is
sensible at 0 discordant pairs, and widens as the sample count shrinks: on 96 samples one
sample is 1.04 points, and the interval says how little a 2-point gap means there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of `a` minus accuracy of `b` on the same samples, in points, with its interval."""

    samples: int
    a_only_right: int  # discordant: a right, b wrong
    b_only_right: int  # discordant: b right, a wrong
    difference_points: float
    low_points: float
    high_points: float
    confidence: float = CONFIDENCE


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference(a_right: np.ndarray, b_right: np.ndarray, confidence: float = CONFIDENCE) -> PairedDifference:
    """Newcombe's interval for P(a right) - P(b right) from per-sample correctness of a and b."""
    a_right, b_right = np.asarray(a_right, bool), np.asarray(b_right, bool)
    if a_right.shape != b_right.shape or a_right.ndim != 1 or not len(a_right):
        raise ValueError(
            f"paired_difference: two equal, non-empty 1-D arrays needed, got {a_right.shape}, {b_right.shape}"
        )
    n = len(a_right)
    both = int(np.sum(a_right & b_right))
    a_only = int(np.sum(a_right & ~b_right))
    b_only = int(np.sum(~a_right & b_right))
    neither = n - both - a_only - b_only
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    l1, u1 = _wilson(both + a_only, n, z)
    l2, u2 = _wilson(both + b_only, n, z)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = 0.0 if margins == 0 else (both * neither - a_only * b_only) / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return PairedDifference(
        samples=n,
        a_only_right=a_only,
        b_only_right=b_only,
        difference_points=round(d * 100, 3),
        low_points=round(max(-1.0, low) * 100, 3),
        high_points=round(min(1.0, high) * 100, 3),
        confidence=confidence,
    )
