"""TorchScript via torch.jit.trace (script as the fallback for data-dependent control flow), frozen.

Frozen (`torch.jit.freeze`: weights inlined as constants, eval-mode branches folded) as
TorchServe's performance guide recommends. `torch.jit.optimize_for_inference` (conv-bn
folding, MKLDNN layouts) is applied where the file is LOADED (runtimes/torchscript.py and
TorchServe's handler): its output does not survive save and load ("required keyword
attribute 'value' is undefined"). A module that cannot be frozen is saved as traced, with
the reason in details["frozen"].
"""

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
    frozen = _frozen(torch, traced)
    path = ctx.out_dir / FILE_NAME
    with atomic_path(path) as tmp:
        (traced if isinstance(frozen, str) else frozen).save(str(tmp))
    details = {
        "method": how,
        # True, or why not; the loader applies optimize_for_inference to a frozen file
        "frozen": frozen if isinstance(frozen, str) else True,
        "optimize_for_inference": "at load" if not isinstance(frozen, str) else "not applied (not frozen)",
    }
    return [pytorch_file_entry(ctx, "torchscript", "torchscript", path, example, started, details)]


def pytorch_file_entry(
    ctx: ExportContext, name: str, fmt: str, path, example: tuple, started: float, details: dict
) -> ArtifactEntry:
    """The manifest entry of a file PyTorch wrote from the module (TorchScript, AOTInductor):
    the model's own inputs (dynamic batch) and its logits, made by torch."""
    import torch

    bundle = ctx.bundle
    with torch.no_grad():
        out_shape = list(bundle.module(*example).shape)
    x = bundle.example_input
    arrays: dict[str, np.ndarray] = x if isinstance(x, dict) else {"input": x}
    return ArtifactEntry(
        name=name,
        format=fmt,
        variant="fp32",
        path=path.name,
        size_bytes=size_of(path),
        sha256=sha256_of(path),
        inputs=[TensorSpec(n, [None, *a.shape[1:]], a.dtype.name, bundle.layout) for n, a in arrays.items()],
        outputs=[TensorSpec("logits", [None, *out_shape[1:]], "float32", "NC")],
        export_seconds=round(time.perf_counter() - started, 3),
        tools=package_versions("torch"),
        details=details,
    )


def _frozen(torch, traced):
    """The frozen module, or why it could not be frozen (the traced one is saved instead)."""
    try:
        return torch.jit.freeze(traced.eval())
    except Exception as exc:  # freeze refuses some modules (e.g. ones that mutate attributes)
        return f"not frozen: torch.jit.freeze failed ({first_line(exc)})"
