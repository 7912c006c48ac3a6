"""TorchScript through libtorch (torch.jit.load), optimized for inference at load.

A file exported frozen gets `torch.jit.optimize_for_inference` here, as TorchServe's
performance guide recommends (it cannot be saved: the exporter freezes, the loader
optimizes). What was applied is in `self.applied`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArtifactError, first_line
from .base import Runtime


class TorchScriptRuntime(Runtime):
    name = "torchscript"
    package = "torch"
    engine_module = "torch"

    def _load(self) -> None:
        import torch

        if self.threads:
            # Process-wide in torch: the benchmark runs each thread setting in its own process.
            torch.set_num_threads(self.threads)
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript in favour of torch.export; the format is
                # still what TorchServe and libtorch deployments load, so we keep measuring it.
                warnings.filterwarnings(
                    "ignore", message=r".*torch\.jit\.load.*deprecated", category=DeprecationWarning
                )
                self._module = torch.jit.load(str(self.path), map_location="cpu").eval()
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable TorchScript file ({first_line(exc)})") from exc
        self._module, self.applied["optimize_for_inference"] = optimized(torch, self._module, self.entry.details)
        self._torch = torch

    def _run(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self._module(*(self._torch.from_numpy(a) for a in self.arrays(x))).numpy()

    def close(self) -> None:
        self._module = None


def optimized(torch, module, details: dict) -> tuple:
    """(module, what was applied): optimize_for_inference on a frozen file, else the module as is.

    Shared with TorchServe's handler, so both load the same file the same way."""
    if details.get("frozen") is not True:
        return module, "not applied (the file is not frozen)"
    try:
        return torch.jit.optimize_for_inference(module), "applied"
    except Exception as exc:  # keep the frozen module: still correct, only slower
        return module, f"failed, frozen module kept ({first_line(exc)})"
