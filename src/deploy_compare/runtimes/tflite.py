"""TFLite through ai-edge-litert (the maintained runtime), falling back to tflite-runtime.

XNNPACK is the default delegate of both for float and int8 models (op resolver AUTO); we
keep it on by not overriding the resolver. How many ops it took is read from the
interpreter's node list (tflite_invoke.kernel_coverage) and recorded with each row.

A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax): the edge
runner is assembled from it (edge/assemble.py), so a device loads and runs its models here.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArtifactError, RuntimeUnavailable, first_line
from ..tflite_invoke import BatchInvoker, KernelCoverage, kernel_coverage
from .base import Runtime, engine_label

#: (module holding Interpreter, PyPI package), in order of preference
ENGINES = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"))


def load_interpreter_class():
    """(Interpreter class, package name) of the first TFLite runtime installed."""
    import importlib

    for module_name, package in ENGINES:
        try:
            return importlib.import_module(module_name).Interpreter, package
        except ImportError:
            continue
    raise RuntimeUnavailable(
        "TFLite: neither ai-edge-litert nor tflite-runtime is installed (python3 -m pip install ai-edge-litert)"
    )


class TFLiteRuntime(Runtime):
    name = "tflite"
    package = "ai-edge-litert"
    engine_module = "ai_edge_litert.interpreter"

    @classmethod
    def import_engine(cls) -> str:
        _, package = load_interpreter_class()
        return engine_label(package)

    def _load(self) -> None:
        interpreter_class, self.package = load_interpreter_class()
        try:
            self._interpreter = interpreter_class(model_path=str(self.path), num_threads=self.threads or None)
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable TFLite model ({first_line(exc)})") from exc
        self._invoke: BatchInvoker | None = BatchInvoker(self._interpreter)

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._invoke is None:
            raise RuntimeError(f"{self.path}: TFLite runtime used after close()")
        return self._invoke(x)

    def kernel_coverage(self) -> KernelCoverage | None:
        """The XNNPACK delegate's share of the ops (after the first inference applied it)."""
        return kernel_coverage(self._interpreter)

    def close(self) -> None:
        self._interpreter = None
        self._invoke = None
