"""TFLite fp32 and int8 straight from the PyTorch module through litert-torch (formerly ai-edge-torch).

The second route to TFLite, beside PyTorch -> ONNX -> onnx2tf -> SavedModel ->
TFLiteConverter: Google's maintained converter traces the module with torch.export and
lowers it to TFLite itself, so a model onnx2tf cannot convert (an LSTM, say) may still
get a .tflite. Both routes are verified by the same parity checks (exporters/verify.py).

What differs from the onnx2tf route, and why:
- the input keeps PyTorch's layout (NCHW; litert-torch inserts the transposes inside);
- the batch is fixed at 1: litert-torch 0.10 cannot lower a dynamic batch through this
  model's flatten (jax needs concrete shapes), so the exporter traces one sample and the
  runtime runs a larger batch as one invoke per sample (tflite_invoke.BatchInvoker);
- int8 is PyTorch 2 export quantization (torchao's prepare_pt2e / convert_pt2e with
  litert-torch's PT2EQuantizer: symmetric, per-channel weights, static activations),
  calibrated on the same representative samples as TFLiteConverter's full int8; the
  file takes and returns int8 tensors whose scale/zero point the manifest records. Where
  it loses accuracy, layer by layer against the fp32 file: litert_torch_layers.py.
"""

from __future__ import annotations

import os
import time

from ..batches import Batch, batch_len, take
from ..errors import ExportError, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import ArtifactEntry
from ..versions import package_versions
from .base import ExportContext, captured_output, in_logical_order, quiet_tensorflow, torch_args
from .tflite import _representative, _tensor_spec

ROUTE = "litert-torch"
VARIANTS = ("fp32", "int8")


def _import_litert_torch():
    quiet_tensorflow()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no accelerator probing: this is a CPU converter
    try:
        import litert_torch
    except ImportError as exc:
        raise ExportError(
            f"litert-torch is not installed ({first_line(exc)}); it is pinned in requirements.lock"
        ) from None
    return litert_torch


def _quantized_module(module, sample: tuple, calibration: Batch):
    """The module with int8 fake-quant nodes placed and calibrated (PT2E), and the quantizer used."""
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    prepared = prepare_pt2e(torch.export.export(module, sample).module(), quantizer)
    with torch.no_grad():
        for i in range(batch_len(calibration)):  # one sample at a time: the export fixed the batch at 1
            prepared(*torch_args(take(calibration, slice(i, i + 1))))
    return convert_pt2e(prepared, fold_quantize=False), quantizer


def export_variant(ctx: ExportContext, variant: str) -> ArtifactEntry:
    litert_torch = _import_litert_torch()
    started = time.perf_counter()
    bundle = ctx.bundle
    module = bundle.module.eval()
    sample = torch_args(take(bundle.example_input, slice(0, 1)))
    name = f"litert_torch_{variant}"
    details: dict = {"converter": "litert_torch.convert", "route": ROUTE, "source": "pytorch", "batch": 1}
    try:
        with captured_output(ctx.log_dir / f"{name}.log"):
            if variant == "int8":
                from litert_torch.quantize.quant_config import QuantConfig

                calibration, described = _representative(ctx, bundle.layout)
                details["representative_data"] = described
                quantized, quantizer = _quantized_module(module, sample, calibration)
                edge_model = litert_torch.convert(quantized, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer))
            else:
                edge_model = litert_torch.convert(module, sample)
            model_bytes = edge_model.model_content()
    except Exception as exc:
        raise ExportError(
            f"{name}: litert-torch failed ({first_line(exc)}); log {ctx.log_dir / f'{name}.log'}"
        ) from exc
    file_name = f"model_litert_torch_{variant}.tflite"
    path = ctx.out_dir / file_name
    with atomic_path(path) as tmp:
        tmp.write_bytes(model_bytes)
    inputs, outputs = _specs(bytes(model_bytes), bundle.layout)
    inputs = in_logical_order(inputs, bundle.input_names, name)
    return ArtifactEntry(
        name=name,
        format="tflite",
        variant=variant,
        path=file_name,
        size_bytes=size_of(path),
        sha256=sha256_of(path),
        inputs=inputs,
        outputs=outputs,
        export_seconds=round(time.perf_counter() - started, 3),
        tools=package_versions("litert-torch", "torch", "torchao", "ai-edge-litert"),
        details=details,
    )


def _specs(model_bytes: bytes, layout: str):
    """Input/output specs read back from the file; the input keeps the model's own (PyTorch) layout."""
    from ..runtimes.tflite import load_interpreter_class

    interpreter_class, _ = load_interpreter_class()
    interpreter = interpreter_class(model_content=model_bytes)
    inputs = [_tensor_spec(d, layout) for d in interpreter.get_input_details()]
    outputs = [
        _tensor_spec(d, "NC" if len(d["shape_signature"]) == 2 else "ANY") for d in interpreter.get_output_details()
    ]
    return inputs, outputs


def export_fp32(ctx: ExportContext) -> list[ArtifactEntry]:
    return [export_variant(ctx, "fp32")]


def export_int8(ctx: ExportContext) -> list[ArtifactEntry]:
    return [export_variant(ctx, "int8")]
