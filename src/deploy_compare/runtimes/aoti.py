"""An AOTInductor package (.pt2) through `torch._inductor.aoti_load_package`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArtifactError, first_line
from .base import Runtime


class AOTInductorRuntime(Runtime):
    name = "aoti"
    package = "torch"
    engine_module = "torch"

    def _load(self) -> None:
        import torch
        from torch._inductor import aoti_load_package

        if self.threads:
            # Process-wide in torch (the compiled kernels use torch's OpenMP pool): the
            # benchmark runs each thread setting in its own process.
            torch.set_num_threads(self.threads)
        try:
            self._model: Any = aoti_load_package(str(self.path))
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable AOTInductor package ({first_line(exc)})") from exc
        self.applied["threads"] = str(self.threads) if self.threads else "default (all cores)"
        self._torch = torch

    def _run(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self._model(*(self._torch.from_numpy(a) for a in self.arrays(x))).numpy()

    def close(self) -> None:
        self._model = None
