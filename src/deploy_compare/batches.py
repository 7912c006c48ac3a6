"""A batch of model inputs: one array, or several NAMED arrays (a text model's input_ids and
attention_mask) that share the leading batch dimension.

A pure module (stdlib + numpy, Python 3.9 syntax): the in-process runtimes, the
benchmark procedure, the parity check, the load client's payloads and the standalone
edge runner (assembled from this source) slice, join and store batches the same way.
A single-input model keeps using a plain array everywhere; a named batch is a dict in
the model's input order (its forward() argument order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Sequence, Union

import numpy as np

Batch = Union[np.ndarray, Dict[str, np.ndarray]]

#: eval.npz keys: "x" holds a single input; named inputs are "x.<name>", in order under "input_names"
X_KEY = "x"
NAMES_KEY = "input_names"


def is_named(batch: Any) -> bool:
    return isinstance(batch, dict)


def batch_len(batch: Batch) -> int:
    if isinstance(batch, dict):
        lengths = {len(a) for a in batch.values()}
        if len(lengths) != 1:
            raise ValueError(f"named inputs have different batch sizes: {sorted(lengths)}")
        return lengths.pop()
    return len(batch)


def take(batch: Batch, index: Any) -> Batch:
    """batch[index] (a slice or an index array) of every input, contiguous."""
    if isinstance(batch, dict):
        return {k: np.ascontiguousarray(v[index]) for k, v in batch.items()}
    return np.ascontiguousarray(batch[index])


def concat(batches: Sequence[Batch]) -> Batch:
    if batches and isinstance(batches[0], dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    return np.concatenate(batches)  # type: ignore[arg-type]


def to_npz_arrays(batch: Batch) -> Dict[str, np.ndarray]:
    """The eval.npz arrays that store `batch` (see X_KEY)."""
    if not isinstance(batch, dict):
        return {X_KEY: batch}
    arrays = {f"{X_KEY}.{k}": v for k, v in batch.items()}
    arrays[NAMES_KEY] = np.array(list(batch), dtype=np.str_)
    return arrays


def from_npz(data: Mapping[str, np.ndarray]) -> Batch:
    """The batch an eval.npz (np.load result) stores, single or named."""
    if NAMES_KEY in data:
        return {str(k): data[f"{X_KEY}.{k}"] for k in data[NAMES_KEY].tolist()}
    return data[X_KEY]
