"""What a model source hands to the exporters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..batches import Batch, batch_len, is_named
from ..errors import ModelLoadError


@dataclass
class ModelBundle:
    """A trained torch.nn.Module plus the data the exporters need.

    example_input: a float32 batch in the model's logical layout (shapes the exports), or,
        for a model with several inputs, a dict of named arrays in forward() argument order
        (batches.py); integer inputs (token ids, masks) keep an integer dtype (int64).
    eval_inputs/eval_labels: the held-out set for parity checks (labels optional).
    calibration_inputs: representative data for full-int8 quantization (>= 100 samples
    preferred; when absent the eval inputs are used and the manifest says so).
    """

    name: str
    source: str
    module: Any  # torch.nn.Module, kept untyped so this file imports without torch
    example_input: Batch
    eval_inputs: Batch
    eval_labels: np.ndarray | None = None
    calibration_inputs: Batch | None = None
    layout: str = "NCHW"

    @property
    def input_names(self) -> tuple[str, ...]:
        """The named inputs in forward() order; () for a single-input model."""
        return tuple(self.example_input) if is_named(self.example_input) else ()

    def __post_init__(self) -> None:
        if is_named(self.example_input):
            self._check_named()
            return
        for field_name in ("example_input", "eval_inputs", "calibration_inputs"):
            value = getattr(self, field_name)
            if value is None:
                continue
            if is_named(value):
                raise ModelLoadError(
                    f"model {self.name!r}: {field_name} is a dict of named inputs but example_input is one array"
                )
            if not isinstance(value, np.ndarray):
                value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
            if value.dtype != np.float32:
                value = value.astype(np.float32)
            setattr(self, field_name, value)
        example, held_out = self.example_input, self.eval_inputs
        assert isinstance(example, np.ndarray) and isinstance(held_out, np.ndarray)  # converted above
        if self.eval_labels is not None:
            labels = self.eval_labels
            labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
            self.eval_labels = labels.astype(np.int64)
            if len(self.eval_labels) != len(held_out):
                raise ModelLoadError(
                    f"model {self.name!r}: eval_labels has {len(self.eval_labels)} entries but "
                    f"eval_inputs has {len(held_out)}"
                )
        if example.ndim < 2:
            raise ModelLoadError(
                f"model {self.name!r}: example_input must be a batch (ndim >= 2), got shape {example.shape}"
            )
        if held_out.shape[1:] != example.shape[1:]:
            raise ModelLoadError(
                f"model {self.name!r}: eval_inputs sample shape {held_out.shape[1:]} differs "
                f"from example_input's {example.shape[1:]}"
            )

    def _check_named(self) -> None:
        """Named inputs: numpy arrays (ints as int64, floats as float32), the same names everywhere."""
        names = list(self.example_input)
        for field_name in ("example_input", "eval_inputs", "calibration_inputs"):
            value = getattr(self, field_name)
            if value is None:
                continue
            if not is_named(value) or list(value) != names:
                got = list(value) if is_named(value) else f"one {type(value).__name__}"
                raise ModelLoadError(f"model {self.name!r}: {field_name} must name the inputs {names}, got {got}")
            arrays = {k: _as_model_dtype(v) for k, v in value.items()}
            try:
                count = batch_len(arrays)
            except ValueError as exc:
                raise ModelLoadError(f"model {self.name!r}: {field_name}: {exc}") from None
            if count == 0:
                raise ModelLoadError(f"model {self.name!r}: {field_name} has no samples")
            setattr(self, field_name, arrays)
        for name in names:
            example, held_out = self.example_input[name], self.eval_inputs[name]
            if example.shape[1:] != held_out.shape[1:] or example.dtype != held_out.dtype:
                raise ModelLoadError(
                    f"model {self.name!r}: input {name!r} of eval_inputs is {held_out.dtype} {held_out.shape[1:]}, "
                    f"example_input's is {example.dtype} {example.shape[1:]}"
                )
        if self.eval_labels is not None:
            labels = self.eval_labels
            labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
            self.eval_labels = labels.astype(np.int64)
            if len(self.eval_labels) != batch_len(self.eval_inputs):
                raise ModelLoadError(
                    f"model {self.name!r}: eval_labels has {len(self.eval_labels)} entries but "
                    f"eval_inputs has {batch_len(self.eval_inputs)}"
                )


def _as_model_dtype(value: object) -> np.ndarray:
    """A named input as numpy: integer and bool inputs as int64 (what token ids and masks are in
    BERT exports), anything else as float32."""
    array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if array.dtype.kind in "iub":
        return array.astype(np.int64, copy=False)
    return array.astype(np.float32, copy=False)
