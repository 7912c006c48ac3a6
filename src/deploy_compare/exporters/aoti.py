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

from ..errors import ExportError, ExportNotApplicable, first_line
from ..fileio import atomic_path
from ..manifest import ArtifactEntry
from .base import ExportContext, captured_output, example_with_batch_of_two, torch_args
from .torchscript import pytorch_file_entry

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
    details = {"method": "torch.export + aoti_compile_and_package", "dynamic_batch": f"1..{MAX_BATCH}"}
    return [pytorch_file_entry(ctx, "aoti", "aoti", path, example, started, details)]
