"""TorchScript via torch.jit.trace (script as the fallback for data-dependent control flow)."""

from __future__ import annotations

import time

import numpy as np

from ..errors import ExportError, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import ArtifactEntry, TensorSpec
from ..versions import package_versions
from .base import ExportContext, torch_args

FILE_NAME = "model.pt"


def export(ctx: ExportContext) -> list[ArtifactEntry]:
    import torch

    bundle = ctx.bundle
    started = time.perf_counter()
    example = torch_args(bundle.example_input)
    try:
        with torch.no_grad():
            traced = torch.jit.trace(bundle.module, example, check_trace=True)
        how = "trace"
    except Exception as trace_exc:
        try:
            traced = torch.jit.script(bundle.module)
            how = "script"
        except Exception as exc:
            raise ExportError(
                f"torchscript: neither torch.jit.trace ({first_line(trace_exc)}) nor "
                f"torch.jit.script ({first_line(exc)}) could compile model {bundle.name!r}"
            ) from exc
    path = ctx.out_dir / FILE_NAME
    with atomic_path(path) as tmp:
        traced.save(str(tmp))
    with torch.no_grad():
        out_shape = list(bundle.module(*example).shape)
    x = bundle.example_input
    arrays: dict[str, np.ndarray] = x if isinstance(x, dict) else {"input": x}
    return [
        ArtifactEntry(
            name="torchscript",
            format="torchscript",
            variant="fp32",
            path=FILE_NAME,
            size_bytes=size_of(path),
            sha256=sha256_of(path),
            inputs=[TensorSpec(n, [None, *a.shape[1:]], a.dtype.name, bundle.layout) for n, a in arrays.items()],
            outputs=[TensorSpec("logits", [None, *out_shape[1:]], "float32", "NC")],
            export_seconds=round(time.perf_counter() - started, 3),
            tools=package_versions("torch"),
            details={"method": how},
        )
    ]
