"""ONNX with a dynamic batch dimension: torch.onnx's dynamo exporter, TorchScript-based as fallback."""

from __future__ import annotations

import logging
import time

from ..batches import Batch
from ..errors import ExportError, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import ArtifactEntry, TensorSpec
from ..versions import package_versions
from .base import ExportContext, captured_output, example_with_batch_of_two, in_logical_order, log_tail, torch_args

FILE_NAME = "model.onnx"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def _input_names(example: Batch) -> list[str]:
    """The graph's input names: the model's named inputs, or "input" for a single one."""
    return list(example) if isinstance(example, dict) else [INPUT_NAME]


def _export_dynamo(module, example, path, opset: int, names: list[str]) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.onnx.export(
        module,
        example,
        dynamo=True,
        opset_version=opset,
        input_names=names,
        output_names=[OUTPUT_NAME],
        dynamic_shapes=tuple({0: batch} for _ in names),
        verbose=False,
    )
    if program is None:  # torch returns None only for the legacy exporter, which dynamo=True is not
        raise ExportError(f"ONNX (dynamo): torch.onnx.export returned no program for {path}")
    program.save(str(path))


def _export_legacy(module, example, path, opset: int, names: list[str]) -> None:
    import torch

    torch.onnx.export(
        module,
        example,
        str(path),
        dynamo=False,
        opset_version=opset,
        input_names=names,
        output_names=[OUTPUT_NAME],
        dynamic_axes={**{n: {0: "batch"} for n in names}, OUTPUT_NAME: {0: "batch"}},
    )


def _tensor_specs(values, layout_for_rank) -> list[TensorSpec]:
    import onnx

    specs = []
    for value in values:
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
        specs.append(TensorSpec(value.name, dims, dtype, layout_for_rank(len(dims))))
    return specs


def export(ctx: ExportContext) -> list[ArtifactEntry]:
    import onnx

    # torch.onnx warns once per missing torchvision op; irrelevant to our models.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    bundle = ctx.bundle
    started = time.perf_counter()
    example = torch_args(example_with_batch_of_two(bundle.example_input))
    names = _input_names(bundle.example_input)
    path = ctx.out_dir / FILE_NAME
    log_path = ctx.log_dir / "onnx_export.log"
    errors = []
    exporter = None
    for name, fn in (("dynamo", _export_dynamo), ("torchscript-based", _export_legacy)):
        try:
            with atomic_path(path) as tmp, captured_output(log_path):
                fn(bundle.module, example, tmp, ctx.opset, names)
                onnx.checker.check_model(str(tmp))
            exporter = name
            break
        except Exception as exc:
            errors.append(f"{name} exporter: {first_line(exc)}")
    if exporter is None:
        tail = log_tail(log_path)
        raise ExportError(
            f"onnx: model {bundle.name!r} failed ONNX export ({'; '.join(errors)})" + (f"\n{tail}" if tail else "")
        )
    model = onnx.load(str(path), load_external_data=False)
    rank = len(next(iter(torch_args(bundle.example_input))).shape)
    layout_in = lambda r: bundle.layout if r == rank else "ANY"  # noqa: E731
    inputs = in_logical_order(_tensor_specs(model.graph.input, layout_in), bundle.input_names, "onnx")
    outputs = _tensor_specs(model.graph.output, lambda rank: "NC" if rank == 2 else "ANY")
    if any(spec.shape[0] is not None for spec in inputs):
        raise ExportError(
            f"onnx: exported graph of {bundle.name!r} has a fixed batch dimension "
            f"{inputs[0].shape}; a dynamic batch was requested"
        )
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return [
        ArtifactEntry(
            name="onnx",
            format="onnx",
            variant="fp32",
            path=FILE_NAME,
            size_bytes=size_of(path),
            sha256=sha256_of(path),
            inputs=inputs,
            outputs=outputs,
            export_seconds=round(time.perf_counter() - started, 3),
            tools=package_versions("torch", "onnx", "onnxscript"),
            details={"opset": opset, "exporter": exporter, "fallback_reasons": errors},
        )
    ]
