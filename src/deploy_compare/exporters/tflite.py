"""TFLite fp32 / fp16 / dynamic-range int8 / full int8 from the SavedModel, through
TensorFlow's TFLiteConverter. Full int8 is calibrated on our own representative data
(training samples), never on anything downloaded. Integer inputs (a text model's int64
token ids and mask) stay integer in every variant: full int8 quantizes only float inputs,
and the manifest records each input's own dtype and (absent) quantization."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..batches import Batch, batch_len, is_named, take
from ..errors import ExportError, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import ArtifactEntry, QuantParams, TensorSpec, to_artifact_layout
from ..versions import package_versions
from .base import ExportContext, in_logical_order, onnx2tf_layout, quiet_tensorflow

VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8")
MIN_REPRESENTATIVE_SAMPLES = 100
MAX_REPRESENTATIVE_SAMPLES = 300


def _representative(ctx: ExportContext, layout: str) -> tuple[Batch, str]:
    bundle = ctx.bundle
    if bundle.calibration_inputs is not None:
        data, source = bundle.calibration_inputs, "training samples"
    else:
        data, source = bundle.eval_inputs, "evaluation inputs (the factory gave no calibration data)"
    data = take(data, slice(0, MAX_REPRESENTATIVE_SAMPLES))
    count = batch_len(data)
    if count < MIN_REPRESENTATIVE_SAMPLES:
        ctx.progress(f"  warning: only {count} representative samples (< {MIN_REPRESENTATIVE_SAMPLES})")
    if is_named(data):
        return data, f"{count} {source}"
    return to_artifact_layout(data, bundle.layout, layout), f"{count} {source}"


def configure(converter, variant: str, representative: Callable | None) -> None:
    import tensorflow as tf

    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


def _tensor_spec(detail: dict, layout: str) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    quant = QuantParams(float(scale), int(zero_point)) if scale else None
    shape = [None if d < 0 else int(d) for d in detail["shape_signature"]]
    return TensorSpec(detail["name"], shape, np.dtype(detail["dtype"]).name, layout, quant)


def _specs(model_bytes: bytes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    from ..runtimes.tflite import load_interpreter_class

    interpreter_class, _ = load_interpreter_class()
    interpreter = interpreter_class(model_content=model_bytes)
    inputs = [_tensor_spec(d, onnx2tf_layout(len(d["shape_signature"]))) for d in interpreter.get_input_details()]
    outputs = [
        _tensor_spec(d, "NC" if len(d["shape_signature"]) == 2 else "ANY") for d in interpreter.get_output_details()
    ]
    return inputs, outputs


def representative_dataset(ctx: ExportContext, details: dict) -> Callable[[], Iterator[Any]]:
    """The calibration samples one by one, as TFLiteConverter (and QuantizationDebugger) take them."""
    layout = ctx.done["savedmodel"].inputs[0].layout
    data, described = _representative(ctx, layout)
    details["representative_data"] = described
    signature_names = [t.name for t in ctx.done["savedmodel"].inputs]

    def representative() -> Iterator[Any]:
        for i in range(batch_len(data)):
            sample = take(data, slice(i, i + 1))
            # named inputs go by the signature's names (artifact inputs are in model order)
            yield dict(zip(signature_names, sample.values())) if isinstance(sample, dict) else [sample]

    return representative


def export_variant(ctx: ExportContext, variant: str) -> ArtifactEntry:
    quiet_tensorflow()
    import tensorflow as tf

    started = time.perf_counter()
    saved_model = ctx.path_of("savedmodel")
    details: dict = {"converter": "tf.lite.TFLiteConverter.from_saved_model", "source": "savedmodel"}
    representative = representative_dataset(ctx, details) if variant == "int8" else None
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        configure(converter, variant, representative)
        model_bytes = converter.convert()
    except Exception as exc:
        raise ExportError(f"tflite_{variant}: TFLiteConverter failed on {saved_model} ({first_line(exc)})") from exc
    return write_tflite(ctx, f"tflite_{variant}", variant, model_bytes, details, started)


def write_tflite(
    ctx: ExportContext, name: str, variant: str, model_bytes: bytes, details: dict, started: float
) -> ArtifactEntry:
    """Write a converted model as model_<variant>.tflite and describe it for the manifest."""
    file_name = f"model_{variant}.tflite"
    path = ctx.out_dir / file_name
    with atomic_path(path) as tmp:
        tmp.write_bytes(model_bytes)
    inputs, outputs = _specs(model_bytes)
    inputs = in_logical_order(inputs, ctx.bundle.input_names, name)
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
        tools=package_versions("tensorflow-cpu", "ai-edge-litert"),
        details=details,
    )


def exporter_for(variant: str) -> Callable[[ExportContext], list[ArtifactEntry]]:
    def export(ctx: ExportContext) -> list[ArtifactEntry]:
        return [export_variant(ctx, variant)]

    export.__name__ = f"export_tflite_{variant}"
    return export


export_fp32 = exporter_for("fp32")
export_fp16 = exporter_for("fp16")
export_dynamic_int8 = exporter_for("dynamic_int8")
export_int8 = exporter_for("int8")
