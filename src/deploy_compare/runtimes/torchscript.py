"""TorchScript through libtorch (torch.jit.load), optimized for inference at load.

A file exported frozen gets `torch.jit.optimize_for_inference` here where it is faster, as
TorchServe's performance guide recommends (it cannot be saved: the exporter freezes, the
loader optimizes; torchscript_optimize.py measures). What was applied is in `self.applied`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArtifactError, first_line
from .base import Runtime
from .torchscript_optimize import load_fastest, one_sample


class TorchScriptRuntime(Runtime):
    name = "torchscript"
    package = "torch"
    engine_module = "torch"

    def _load(self) -> None:
        import torch

        if self.threads:
            # Process-wide in torch: the benchmark runs each thread setting in its own process.
            torch.set_num_threads(self.threads)
        example = one_sample(torch, [(t.shape, t.dtype) for t in self.entry.inputs])
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript in favour of torch.export; the format is
                # still what TorchServe and libtorch deployments load, so we keep measuring it.
                warnings.filterwarnings(
                    "ignore", message=r".*torch\.jit\.load.*deprecated", category=DeprecationWarning
                )
                self._module, self.applied["optimize_for_inference"] = load_fastest(
                    torch,
                    lambda: torch.jit.load(str(self.path), map_location="cpu").eval(),
                    self.entry.details.get("frozen") is True,
                    example,
                )
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable TorchScript file ({first_line(exc)})") from exc
        self._torch = torch

    def _run(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self._module(*(self._torch.from_numpy(a) for a in self.arrays(x))).numpy()

    def close(self) -> None:
        self._module = None
