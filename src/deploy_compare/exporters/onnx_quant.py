"""ONNX int8: ONNX Runtime's static quantization of the ONNX artifact.

QDQ format (QuantizeLinear/DequantizeLinear pairs that ORT fuses into integer kernels),
int8 weights per output channel, uint8 activations calibrated (MinMax) on the SAME
representative samples as the TFLite full-int8 files, after ORT's recommended
pre-processing (shape inference and graph optimization: `quant_pre_process`). U8S8 is
ONNX Runtime's fast path on x86 with VNNI. Inputs and outputs stay float32, so the
artifact is served exactly like `onnx`; it is held to the same int8 accuracy rule as
every other int8 variant.
"""

from __future__ import annotations

import time

import numpy as np

from ..batches import batch_len, is_named, take
from ..errors import ExportError, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import ArtifactEntry
from ..versions import package_versions
from .base import ExportContext, captured_output
from .tflite import _representative

FILE_NAME = "model_int8.onnx"


class _Samples:
    """onnxruntime.quantization's CalibrationDataReader: one sample at a time, by input name."""

    def __init__(self, data, names: list[str]) -> None:
        self._data, self._names, self._next = data, names, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= batch_len(self._data):
            return None
        one = take(self._data, slice(self._next, self._next + 1))
        self._next += 1
        arrays = [one[n] for n in self._names] if is_named(one) else [one]
        return {name: np.ascontiguousarray(a) for name, a in zip(self._names, arrays)}


def export_int8(ctx: ExportContext) -> list[ArtifactEntry]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    started = time.perf_counter()
    source = ctx.done["onnx"]
    data, described = _representative(ctx, source.inputs[0].layout)
    names = [spec.name for spec in source.inputs]
    path = ctx.out_dir / FILE_NAME
    prepared = ctx.out_dir / "logs" / "onnx_int8.preprocessed.onnx"
    try:
        with captured_output(ctx.log_dir / "onnx_int8.log"):
            quant_pre_process(str(ctx.path_of("onnx")), str(prepared))
            with atomic_path(path) as tmp:
                quantize_static(
                    str(prepared),
                    str(tmp),
                    _Samples(data, names),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                )
    except Exception as exc:
        raise ExportError(f"onnx_int8: ONNX Runtime static quantization failed ({first_line(exc)})") from exc
    finally:
        prepared.unlink(missing_ok=True)
    return [
        ArtifactEntry(
            name="onnx_int8",
            format="onnx",
            variant="int8",
            path=FILE_NAME,
            size_bytes=size_of(path),
            sha256=sha256_of(path),
            inputs=source.inputs,
            outputs=source.outputs,
            export_seconds=round(time.perf_counter() - started, 3),
            tools=package_versions("onnxruntime", "onnx"),
            details={
                "quantization": "static, QDQ, per-channel int8 weights, uint8 activations, MinMax calibration",
                "representative_data": described,
                "preprocessing": "onnxruntime.quantization.shape_inference.quant_pre_process",
            },
        )
    ]
