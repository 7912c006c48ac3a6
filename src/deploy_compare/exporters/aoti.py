"""AOTInductor: torch.export + `aoti_compile_and_package`, the deployment route PyTorch now
recommends over TorchScript (deprecated from 2.11 on).

The program is captured with a dynamic batch dimension, compiled ahead of time to C++
kernels (g++; tens of seconds even for a small model) and packaged as one `.pt2` file,
loaded in process by `torch._inductor.aoti_load_package` (runtimes/aoti.py). A model
torch.export cannot capture (data-dependent control flow, unsupported ops) is SKIPPED
with the reason (ExportNotApplicable): a route that does not apply, not a lost export.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import ExportError, ExportNotApplicable, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import ArtifactEntry, TensorSpec
from ..versions import package_versions
from .base import ExportContext, captured_output, example_with_batch_of_two, torch_args

FILE_NAME = "model.pt2"
MAX_BATCH = 4096  # the dynamic batch dimension's upper bound (the serving stacks' largest batch is far below)


def export(ctx: ExportContext) -> list[ArtifactEntry]:
    import torch

    bundle = ctx.bundle
    started = time.perf_counter()
    example = torch_args(example_with_batch_of_two(bundle.example_input))
    module = bundle.module.eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    dynamic = tuple({0: batch} for _ in example)
    try:
        with torch.no_grad():
            program = torch.export.export(module, example, dynamic_shapes=dynamic)
    except Exception as exc:
        raise ExportNotApplicable(
            f"aoti: torch.export cannot capture model {bundle.name!r} ({first_line(exc)})"
        ) from exc
    path = ctx.out_dir / FILE_NAME
    try:
        with atomic_path(path) as tmp, captured_output(ctx.log_dir / "aoti.log"):
            from torch._inductor import aoti_compile_and_package

            aoti_compile_and_package(program, package_path=str(tmp))
    except Exception as exc:
        raise ExportError(
            f"aoti: AOTInductor compilation failed ({first_line(exc)}); log: {ctx.log_dir / 'aoti.log'}"
        ) from exc
    with torch.no_grad():
        out_shape = list(module(*example).shape)
    x = bundle.example_input
    arrays: dict[str, np.ndarray] = x if isinstance(x, dict) else {"input": x}
    return [
        ArtifactEntry(
            name="aoti",
            format="aoti",
            variant="fp32",
            path=FILE_NAME,
            size_bytes=size_of(path),
            sha256=sha256_of(path),
            inputs=[TensorSpec(n, [None, *a.shape[1:]], a.dtype.name, bundle.layout) for n, a in arrays.items()],
            outputs=[TensorSpec("logits", [None, *out_shape[1:]], "float32", "NC")],
            export_seconds=round(time.perf_counter() - started, 3),
            tools=package_versions("torch"),
            details={"method": "torch.export + aoti_compile_and_package", "dynamic_batch": f"1..{MAX_BATCH}"},
        )
    ]
