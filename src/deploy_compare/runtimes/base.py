"""The in-process runtime interface: load an artifact, predict a batch, close.

Callers always pass float32 batches in the model's LOGICAL layout (manifest
`model.layout`); a model with several inputs (manifest `model.inputs`) takes a dict of
named arrays in their logical dtypes (int64 token ids), and the runtime hands the engine a
tuple in the artifact's input order (manifest convention: artifact inputs[i] is logical
input i), each in that input's dtype. The base class checks shape and dtype, converts the layout to the
artifact's own, quantizes int8 inputs and dequantizes int8 outputs from the manifest's
parameters, so every runtime returns float32 outputs comparable with the reference.
Subclasses implement only `_load` and `_run`.

A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax): the edge
runner is assembled from it and runtimes/tflite.py (edge/assemble.py), so a device
prepares, quantizes and predicts with this very code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    "aoti": "aoti",
    "onnx": "onnxruntime",
    "savedmodel": "tensorflow",
    "tflite": "tflite",
}


#: how a runtime's own default thread count reads (it takes every core it may use)
DEFAULT_THREADS = "default (all cores)"


def threads_word(threads: int | None) -> str:
    """A thread setting as results record it: the count, or DEFAULT_THREADS for the runtime's own."""
    return str(threads) if threads else DEFAULT_THREADS


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

    def __init__(
        self,
        path: Path,
        entry: ArtifactEntry,
        logical_layout: str,
        threads: int | None = None,
        logical_inputs: list[TensorSpec] | None = None,
    ) -> None:
        self.path = Path(path)
        self.entry = entry
        self.logical_layout = logical_layout
        self.threads = threads
        #: facts worth recording next to a measurement (e.g. a thread setting that could not apply)
        self.notes: list[str] = []
        #: what the runtime applied at load (graph optimization, threads): recorded beside every
        #: figure, so a comparison says which settings it compared
        self.applied: dict[str, str] = {}
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
        #: several named inputs: the logical spec of each, paired with the artifact's spec of it
        self.logical_inputs: list[TensorSpec] = list(logical_inputs or [])
        self.input_names: list[str] = [t.name for t in entry.inputs]  # the artifact's own names, in model order
        if self.logical_inputs and len(self.logical_inputs) != len(entry.inputs):
            raise InputError(
                f"{self.name}: {entry.name} has {len(entry.inputs)} input(s), the model "
                f"{len(self.logical_inputs)} ({', '.join(t.name for t in self.logical_inputs)})"
            )
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

    def _check_named(self, batch: Any) -> None:
        want = [t.name for t in self.logical_inputs]
        if not isinstance(batch, Mapping) or sorted(batch) != sorted(want):
            got = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise InputError(f"{self.name}: expected a dict of the named inputs {want}, got {got}")
        for spec in self.logical_inputs:
            array = batch[spec.name]
            sample = spec.shape[1:]
            if (
                not isinstance(array, np.ndarray)
                or array.dtype != np.dtype(spec.dtype)
                or array.ndim != len(spec.shape)
                or any(e is not None and g != e for g, e in zip(array.shape[1:], sample))
            ):
                got = f"{array.dtype} {tuple(array.shape)}" if isinstance(array, np.ndarray) else type(array).__name__
                want_shape = "(" + ", ".join("N" if d is None else str(d) for d in spec.shape) + ")"
                raise InputError(f"{self.name}: input {spec.name!r} must be {spec.dtype} {want_shape}, got {got}")

    def _prepare_named(self, batch: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        self._check_named(batch)
        prepared = []
        for logical, spec in zip(self.logical_inputs, self.entry.inputs):
            x = batch[logical.name]
            perm = layout_permutation(logical.layout, spec.layout)
            x = x if perm is None else np.ascontiguousarray(x.transpose(perm))
            q = spec.quantization
            if q is not None and spec.dtype in ("int8", "uint8") and x.dtype.kind == "f":
                x = quantize(x, q, spec.dtype)
            elif x.dtype != np.dtype(spec.dtype):
                x = x.astype(spec.dtype)  # int64 ids -> int32 where a converter narrowed them
            prepared.append(np.ascontiguousarray(x))
        return tuple(prepared)

    @staticmethod
    def arrays(x: Any) -> tuple[np.ndarray, ...]:
        """A prepared batch as the tuple of the artifact's inputs (one input: a 1-tuple)."""
        return x if isinstance(x, tuple) else (x,)

    def check_input(self, batch: np.ndarray) -> None:
        if self.logical_inputs:
            self._check_named(batch)
            return
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
        """float32 batch in the logical layout -> the artifact's layout and input dtype (int8 quantized);
        named inputs -> a tuple in the artifact's input order."""
        if self.logical_inputs:
            return self._prepare_named(batch)  # type: ignore[arg-type,return-value]
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
        the wire; the caller checked shape and dtype; several inputs: a tuple in the artifact's
        input order) -> float32 outputs, int8 dequantized."""
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
