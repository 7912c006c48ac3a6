"""Affine int8/uint8 quantization of float tensors: real = scale * (q - zero_point).

A pure module (stdlib + numpy, Python 3.9 syntax): runtimes/base.py uses it for every
in-process runtime, and edge-bundle assembles it into the standalone run_edge.py, so
the device quantizes inputs exactly as the local benchmark does.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class AffineQuant(Protocol):
    """Anything with the two parameters (manifest.QuantParams)."""

    @property
    def scale(self) -> float: ...  # read-only: frozen dataclasses satisfy it

    @property
    def zero_point(self) -> int: ...


def quantize(x: np.ndarray, q: AffineQuant, dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / q.scale + q.zero_point), info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, q: AffineQuant) -> np.ndarray:
    return (x.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)
