"""What a model source hands to the exporters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelLoadError


@dataclass
class ModelBundle:
    """A trained torch.nn.Module plus the data the exporters need.

    example_input: a float32 batch in the model's logical layout (shapes the exports).
    eval_inputs/eval_labels: the held-out set for parity checks (labels optional).
    calibration_inputs: representative data for full-int8 quantization (>= 100 samples
    preferred; when absent the eval inputs are used and the manifest says so).
    """

    name: str
    source: str
    module: Any  # torch.nn.Module, kept untyped so this file imports without torch
    example_input: np.ndarray
    eval_inputs: np.ndarray
    eval_labels: np.ndarray | None = None
    calibration_inputs: np.ndarray | None = None
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        for field_name in ("example_input", "eval_inputs", "calibration_inputs"):
            value = getattr(self, field_name)
            if value is None:
                continue
            if not isinstance(value, np.ndarray):
                value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
            if value.dtype != np.float32:
                value = value.astype(np.float32)
            setattr(self, field_name, value)
        if self.eval_labels is not None:
            labels = self.eval_labels
            labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
            self.eval_labels = labels.astype(np.int64)
            if len(self.eval_labels) != len(self.eval_inputs):
                raise ModelLoadError(
                    f"model {self.name!r}: eval_labels has {len(self.eval_labels)} entries but "
                    f"eval_inputs has {len(self.eval_inputs)}"
                )
        if self.example_input.ndim < 2:
            raise ModelLoadError(
                f"model {self.name!r}: example_input must be a batch (ndim >= 2), got shape {self.example_input.shape}"
            )
        if self.eval_inputs.shape[1:] != self.example_input.shape[1:]:
            raise ModelLoadError(
                f"model {self.name!r}: eval_inputs sample shape {self.eval_inputs.shape[1:]} differs "
                f"from example_input's {self.example_input.shape[1:]}"
            )
