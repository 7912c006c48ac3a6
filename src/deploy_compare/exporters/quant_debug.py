"""Where full int8 loses accuracy, and `tflite_int8_selective`: the worst layers kept in float.

TensorFlow's QuantizationDebugger (tf.lite.experimental) converts the SavedModel as
tflite_int8 does (same calibration samples), instruments every quantized op with a
NumericVerify op that compares its dequantized output with the float op's, and runs a few
samples through it. Per layer it reports the error statistics (layer_statistics_dump); the
layers are ranked by RMSE over the output's quantization step (sqrt(mean_squared_error) /
scale, the debugger tutorial's measure: above ~0.7 the error is more than rounding), shown
beside the RMSE relative to the float output's RMS (a direct-compare metric). The float op
reads the int8 op's own inputs, so both are the op's own error: the litert-torch route's
"added by the op" is the comparable figure, not its accumulated one. The worst
`KEEP_FLOAT_LAYERS` are kept in float through the debugger's `denylisted_nodes` (their
output tensor names) in the non-debug model written as model_int8_selective.tflite.

The file keeps float inputs and outputs (the debugger's own quantizer: quantize/dequantize
ops inside the model, unlike tflite_int8's int8 inputs), so its end-to-end latency includes
that conversion as tflite_int8's does in the runtime. Verified like every int8 file (the
2-point budget, with its interval). The litert-torch route's layers are ranked the same way
(rank_layers) from its two files' intermediate tensors: litert_torch_layers.py.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

from ..errors import ExportError, ExportNotApplicable, first_line
from .base import ExportContext, quiet_tensorflow
from .tflite import configure, representative_dataset, write_tflite

NAME = "tflite_int8_selective"
VARIANT = "int8_selective"
KEEP_FLOAT_LAYERS = 3
DEBUG_SAMPLES = 32  # samples run through the instrumented model: every op's error on each
RANKED_IN_MANIFEST = 10
LAYER_STATS_FILE = "quant_debug_layers.csv"
FLOAT_MEAN_SQUARE = "float_mean_square"  # our direct-compare metric: the float output's mean square


def _float_mean_square(float_value: Any, _quantized: Any, _scale: float, _zero_point: int) -> float:
    """Per sample; the debugger averages it over the samples as it averages the MSE, so
    sqrt(MSE / this) is the pooled RMSE relative to the float output's RMS."""
    import numpy as np

    return float(np.mean(np.square(np.asarray(float_value, np.float64))))


def rank_layers(statistics: dict[str, dict[str, Any]], scales: dict[str, float]) -> list[dict[str, Any]]:
    """Layers by RMSE over quantization step, worst first: {tensor, rmse_over_scale, mean_squared_error,
    max_abs_error, ...}, any other statistic given carried over (the litert-torch route's relative_rmse).
    Both routes rank with it (litert_torch_layers.py for the litert-torch one)."""
    ranked = []
    for tensor, metrics in statistics.items():
        scale = scales.get(tensor)
        mse = float(metrics.get("mean_squared_error", math.nan))
        if not scale or math.isnan(mse):
            continue
        row = {
            "tensor": tensor,
            "rmse_over_scale": round(math.sqrt(mse) / scale, 4),
            "mean_squared_error": mse,
            "max_abs_error": float(metrics.get("max_abs_error", math.nan)),
        }
        row.update({k: v for k, v in metrics.items() if k not in row})
        ranked.append(row)
    return sorted(ranked, key=lambda r: -r["rmse_over_scale"])


def _layer_table(debugger: Any) -> tuple[list[dict[str, Any]], str]:
    """(ranked layers with op names, the debugger's CSV dump)."""
    import csv

    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = list(csv.DictReader(io.StringIO(dump.getvalue())))
    by_tensor = {r["tensor_name"]: r for r in rows}
    statistics = {
        r["tensor_name"]: {
            "mean_squared_error": float(r["mean_squared_error"]),
            "max_abs_error": float(r["max_abs_error"]),
            "relative_rmse": _relative_rmse(float(r["mean_squared_error"]), r.get(FLOAT_MEAN_SQUARE)),
        }
        for r in rows
    }
    scales = {r["tensor_name"]: float(r["scale"]) for r in rows}
    ranked = rank_layers(statistics, scales)
    for r in ranked:
        r["op"] = by_tensor[r["tensor"]]["op_name"]
    return ranked, dump.getvalue()


def _relative_rmse(mean_squared_error: float, float_mean_square: str | None) -> float | None:
    """None where the dump has no figure, the float output is all zeros, or either is not finite."""
    try:
        square = float(float_mean_square or "nan")
    except ValueError:
        return None
    if not (math.isfinite(square) and square > 0 and math.isfinite(mean_squared_error)):
        return None
    return round(math.sqrt(mean_squared_error / square), 4)


def export_int8_selective(ctx: ExportContext) -> list:
    quiet_tensorflow()
    import tensorflow as tf

    started = time.perf_counter()
    if ctx.bundle.input_names:
        raise ExportNotApplicable(f"{NAME}: QuantizationDebugger feeds one input by position; this model has several")
    details: dict = {"converter": "tf.lite.experimental.QuantizationDebugger", "source": "savedmodel"}
    representative = representative_dataset(ctx, details)

    def debug_dataset():
        for i, sample in enumerate(representative()):
            if i >= DEBUG_SAMPLES:
                return
            yield sample

    saved_model = ctx.path_of("savedmodel")
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        configure(converter, "int8", representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        calibrated = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=debug_dataset)
        # The statistics run on the instrumented model given as content: only that path opens its
        # interpreter keeping every tensor (experimental_preserve_all_tensors), which a
        # direct-compare metric reads after invoke; the converter path's may reuse that memory.
        options = tf.lite.experimental.QuantizationDebugOptions(
            layer_direct_compare_metrics={FLOAT_MEAN_SQUARE: _float_mean_square}
        )
        debugger = tf.lite.experimental.QuantizationDebugger(
            quant_debug_model_content=calibrated.get_debug_quantized_model(),
            debug_dataset=debug_dataset,
            debug_options=options,
        )
        debugger.run()
        ranked, dump = _layer_table(debugger)
        keep = [r["tensor"] for r in ranked[:KEEP_FLOAT_LAYERS]]
        calibrated.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep)
        model_bytes = calibrated.get_nondebug_quantized_model()
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"{NAME}: QuantizationDebugger failed on {saved_model} ({first_line(exc)})") from exc
    (ctx.out_dir / LAYER_STATS_FILE).write_text(dump, encoding="utf-8")
    details.update(
        {
            "layers_kept_float": keep,
            "layer_error_ranking": ranked[:RANKED_IN_MANIFEST],
            "layers_compared": len(ranked),
            "debug_samples": DEBUG_SAMPLES,
            "layer_statistics": LAYER_STATS_FILE,
            "ranking": "sqrt(mean_squared_error) / output scale, per NumericVerify op (worst first); "
            "relative_rmse: RMSE / the float output's RMS",
        }
    )
    return [write_tflite(ctx, NAME, VARIANT, model_bytes, details, started)]
