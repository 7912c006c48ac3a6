"""One TFLite interpreter run on batches of any size.

A pure module (stdlib + numpy, Python 3.9 syntax): runtimes/tflite.py uses it in-process,
and edge-bundle assembles it into the standalone run_edge.py, so the device runs a model
exactly as the local benchmark does.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np


class BatchInvoker:
    """Set the input, invoke, copy the output; re-plan only when the batch size changes."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.input_index = interpreter.get_input_details()[0]["index"]
        self.output_index = interpreter.get_output_details()[0]["index"]
        self._batch: Optional[int] = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._batch != x.shape[0]:
            # The batch dimension is dynamic (-1): resizing and re-allocating costs a
            # planning pass, so it happens only when the batch size changes.
            self.interpreter.resize_tensor_input(self.input_index, list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).copy()
