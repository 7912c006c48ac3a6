"""The built-in data: scikit-learn's bundled 8x8 digits (shipped with the package, no download)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED = 0
HELD_OUT_SHARE = 0.25


@dataclass(frozen=True)
class DigitsSplit:
    """Images as float32 NCHW (N, 1, 8, 8) scaled to [0, 1]; labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray


def load_digits_split(seed: int = SPLIT_SEED, held_out_share: float = HELD_OUT_SHARE) -> DigitsSplit:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixel values are 0..16 in this data set.
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_eval, y_train, y_eval = train_test_split(x, y, test_size=held_out_share, random_state=seed, stratify=y)
    return DigitsSplit(x_train, y_train, x_eval, y_eval)
