"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

import numpy as np

from ..errors import ArtifactError, first_line
from .base import Runtime


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    package = "onnxruntime"
    engine_module = "onnxruntime"

    def _load(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable ONNX model ({first_line(exc)})") from exc
        self._input_name = self.input_spec.name
        self._output_name = self.output_spec.name

    def _run(self, x: np.ndarray) -> np.ndarray:
        if isinstance(x, tuple):
            return self._session.run([self._output_name], dict(zip(self.input_names, x)))[0]
        return self._session.run([self._output_name], {self._input_name: x})[0]

    def close(self) -> None:
        self._session = None
