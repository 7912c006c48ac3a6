"""ONNX Runtime, CPU execution provider, every graph optimization on (ORT_ENABLE_ALL).

`session_options` is the one place ONNX Runtime sessions are configured in our process
(the in-process runtime and the FastAPI service), so both run the file the same way."""

from __future__ import annotations

import numpy as np

from ..errors import ArtifactError, first_line
from .base import Runtime, threads_word


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    package = "onnxruntime"
    engine_module = "onnxruntime"

    def _load(self) -> None:
        import onnxruntime as ort

        options, self.applied = session_options(ort, self.threads)
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


def session_options(ort, threads: int | None) -> tuple:
    """(SessionOptions, what they set): the highest graph optimization level, and `threads`
    intra-op threads with one inter-op thread (None: ONNX Runtime's default, all cores)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    applied = {
        "graph_optimization_level": "ORT_ENABLE_ALL",
        "intra_op_threads": threads_word(threads),
    }
    return options, applied
