"""An AOTInductor package (.pt2) through `torch._inductor.aoti_load_package`.

Run and released as TorchScript's module is (torch tensors in, under inference_mode): only
loading differs."""

from __future__ import annotations

from ..errors import ArtifactError, first_line
from .base import threads_word
from .torchscript import TorchScriptRuntime


class AOTInductorRuntime(TorchScriptRuntime):
    name = "aoti"

    def _load(self) -> None:
        import torch
        from torch._inductor import aoti_load_package

        if self.threads:
            # Process-wide in torch (the compiled kernels use torch's OpenMP pool): the
            # benchmark runs each thread setting in its own process.
            torch.set_num_threads(self.threads)
        try:
            self._module = aoti_load_package(str(self.path))
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable AOTInductor package ({first_line(exc)})") from exc
        self.applied["threads"] = threads_word(self.threads)
        self._torch = torch
