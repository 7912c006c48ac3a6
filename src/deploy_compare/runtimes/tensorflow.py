"""TensorFlow SavedModel, through its serving_default signature (what TF Serving runs)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import ArtifactError
from .base import Runtime


class SavedModelRuntime(Runtime):
    name = "tensorflow"
    package = "tensorflow"
    engine_module = "tensorflow"

    @classmethod
    def import_engine(cls) -> str:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return super().import_engine()

    def _load(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        if self.threads:
            # Only effective before TF initialises its thread pools (first op in the process);
            # the benchmark therefore runs each thread setting in a fresh process.
            try:
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError as exc:
                # TF was already initialised in this process: the setting does not apply.
                self.notes.append(f"TensorFlow thread setting not applied ({exc})")
        signature = self.entry.details.get("signature", "serving_default")
        try:
            self._model = tf.saved_model.load(str(self.path))
            self._fn = self._model.signatures[signature]
        except Exception as exc:
            raise ArtifactError(
                f"{self.path}: not a loadable SavedModel with signature {signature!r} ({type(exc).__name__})"
            ) from exc
        self._tf = tf

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self._fn(**{name: self._tf.constant(a) for name, a in zip(self.input_names, self.arrays(x))})
        return out[self.output_spec.name].numpy()

    def close(self) -> None:
        self._fn = None
        self._model = None
