"""The in-process runtime interface: load an artifact, predict a batch, close.

Callers always pass float32 batches in the model's LOGICAL layout (manifest
`model.layout`). The base class checks shape and dtype, converts the layout to the
artifact's own, quantizes int8 inputs and dequantizes int8 outputs from the manifest's
parameters, so every runtime returns float32 outputs comparable with the reference.
Subclasses implement only `_load` and `_run`.

A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax): the edge
runner is assembled from it and runtimes/tflite.py (edge/assemble.py), so a device
prepares, quantizes and predicts with this very code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..manifest import ArtifactEntry, TensorSpec, layout_permutation

# Re-exported: callers import quantize/dequantize from here. They live in a pure module
# because the standalone edge runner is assembled from it too.
from ..quantization import dequantize, quantize

__all__ = ["RUNTIME_FOR_FORMAT", "Runtime", "dequantize", "quantize"]

#: which runtime runs which artifact format
RUNTIME_FOR_FORMAT = {
    "torchscript": "torchscript",
    "onnx": "onnxruntime",
    "savedmodel": "tensorflow",
    "tflite": "tflite",
}


def engine_label(package: str) -> str:
    """ "package version" of an engine that imported; "package unknown" when its distribution
    does not say (the module imported, so it is installed under some name)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} unknown"


class Runtime(ABC):
    """One loaded artifact. Use as a context manager or call close()."""

    #: registry name, e.g. "onnxruntime"
    name: str = ""
    #: the package whose absence makes this runtime unavailable (SKIPPED), for messages
    package: str = ""
    #: the module import_engine() imports
    engine_module: str = ""

    def __init__(self, path: Path, entry: ArtifactEntry, logical_layout: str, threads: int | None = None) -> None:
        self.path = Path(path)
        self.entry = entry
        self.logical_layout = logical_layout
        self.threads = threads
        #: facts worth recording next to a measurement (e.g. a thread setting that could not apply)
        self.notes: list[str] = []
        self.input_spec: TensorSpec = entry.inputs[0]
        self.output_spec: TensorSpec = entry.outputs[0]
        self._perm = layout_permutation(logical_layout, self.input_spec.layout)
        # Computed once: predict() runs in the benchmark's timed loop, so the per-call
        # checks must stay cheap (see bench/harness_overhead.py).
        self._expected = self.expected_sample_shape()
        self._expected_ndim = len(self._expected) + 1
        q_in = self.input_spec.quantization
        self._quant_in = q_in if q_in is not None and self.input_spec.dtype in ("int8", "uint8") else None
        q_out = self.output_spec.quantization
        self._quant_out = q_out if q_out is not None and self.output_spec.dtype in ("int8", "uint8") else None
        self._load()

    @classmethod
    def import_engine(cls) -> str:
        """Import the engine's package (raises ImportError when absent); return "package version".

        Separate from loading so a benchmark can time (and measure the memory of) the
        import apart from the model load.
        """
        import importlib

        importlib.import_module(cls.engine_module)
        return engine_label(cls.package)

    @abstractmethod
    def _load(self) -> None:
        """Load self.path; raise ArtifactError naming the file when it is unreadable."""

    @abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray:
        """Run one batch already in the artifact's layout and input dtype."""

    def expected_sample_shape(self) -> tuple[int | None, ...]:
        """Shape of one sample in the LOGICAL layout (what callers pass); None: any size."""
        artifact_shape = self.input_spec.shape[1:]
        if self._perm is None:
            return tuple(artifact_shape)
        # inverse permutation: artifact axis order -> logical axis order
        inverse = np.argsort(self._perm)
        full = [None, *artifact_shape]
        return tuple(full[i] for i in inverse)[1:]

    def _shape_text(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in (None, *self._expected)) + ")"

    def check_input(self, batch: np.ndarray) -> None:
        if not isinstance(batch, np.ndarray):
            raise InputError(
                f"{self.name}: expected a float32 numpy array of shape {self._shape_text()} "
                f"in {self.logical_layout} layout, got {type(batch).__name__}"
            )
        if batch.dtype != np.float32:
            raise InputError(
                f"{self.name}: expected dtype float32 with shape {self._shape_text()} "
                f"in {self.logical_layout} layout, got dtype {batch.dtype} with shape {tuple(batch.shape)}"
            )
        if batch.ndim != self._expected_ndim or any(
            e is not None and g != e for g, e in zip(batch.shape[1:], self._expected)
        ):
            raise InputError(
                f"{self.name}: expected input shape {self._shape_text()} in {self.logical_layout} "
                f"layout, got {tuple(batch.shape)}"
            )

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        """float32 batch in the logical layout -> the artifact's layout and input dtype (int8 quantized)."""
        self.check_input(batch)
        x = batch if self._perm is None else np.ascontiguousarray(batch.transpose(self._perm))
        if self._quant_in is not None:
            return quantize(x, self._quant_in, self.input_spec.dtype)
        if self.input_spec.dtype != "float32":
            return x.astype(self.input_spec.dtype)
        return x

    def run_prepared(self, x: np.ndarray) -> np.ndarray:
        """The engine call alone, on a prepare()d batch: what "invoke-only" latency times."""
        return self._run(x)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 batch in the logical layout -> float32 outputs (int8 outputs dequantized)."""
        y = self._run(self.prepare(batch))
        if self._quant_out is not None:
            return dequantize(y, self._quant_out)
        return y.astype(np.float32, copy=False)

    def predict_artifact(self, x: np.ndarray) -> np.ndarray:
        """A batch already in the ARTIFACT's layout and input dtype (what a server receives on
        the wire; the caller checked shape and dtype) -> float32 outputs, int8 dequantized."""
        y = self._run(x)
        if self._quant_out is not None:
            return dequantize(y, self._quant_out)
        return y.astype(np.float32, copy=False)

    def close(self) -> None:
        """Release the engine; subclasses with native handles override."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
