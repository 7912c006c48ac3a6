"""Image-model presets through every exporter, at a small input size.

The presets are deployed at 224x224x3; here they run at 32x32x3 (`@32`), which has the
same layers (depthwise and residual blocks, BatchNorm, global pooling) at a fraction of the
cost. MobileNetV2 is trained as its preset is (a working model: int8's cost measurable);
ResNet-18's int8 conversion is checked on its untrained network, since its training costs
CI minutes and what the conversion does to its padded MaxPool does not depend on the
weights. The 224 figures are in the issue note, not in a timed test.
"""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.evaldata import EvalData
from deploy_compare.manifest import load_manifest
from floors import QUANTIZED_ACCURACY_DROP, QUANTIZED_TOP1_FLOOR

pytestmark = pytest.mark.export


@pytest.mark.parametrize("preset", ["mobilenet_v2"])
def test_preset_exports_everywhere_with_accuracy_measured(cli, tmp_path, preset):
    out = tmp_path / preset
    # The eight artifacts of the onnx2tf route; the litert-torch route (batch of one, slow int8
    # conversion) is tested on the digits model in test_litert_torch_route.py.
    only = "torchscript,onnx,savedmodel,tflite_fp32,tflite_fp16,tflite_dynamic_int8,tflite_int8,tflite_int8_selective"
    result = cli(
        "export",
        "--model",
        f"builtin:{preset}@32",
        "--only",
        only,
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        timeout=1800,
    )
    manifest = load_manifest(out)
    assert result.code == 0, result.err + result.out
    assert "held-out accuracy" in result.out  # training says what it reached
    assert manifest.model.name == f"{preset}_32"
    assert manifest.model.source == f"builtin:{preset}@32"
    assert len(manifest.artifacts) == 8 and manifest.failures == {}
    # trained into a working model (the built-in CNN has 98%): int8's cost is then measurable
    assert manifest.model.reference_accuracy >= 0.9
    for name, entry in manifest.artifacts.items():
        assert entry.parity.passed or entry.parity.over_budget, (name, entry.parity.failures)
        assert entry.inputs[0].shape[1:] in ([3, 32, 32], [32, 32, 3]), (name, entry.inputs[0].shape)
    selective = manifest.artifact("tflite_int8_selective")
    ranking = selective.details["layer_error_ranking"]
    assert len(selective.details["layers_kept_float"]) == 3 and len(ranking) >= 3
    assert selective.details["layers_kept_float"] == [layer["tensor"] for layer in ranking[:3]]
    assert ranking[0]["rmse_over_scale"] >= ranking[-1]["rmse_over_scale"] > 0
    # the error relative to the float output's RMS, as the litert-torch route reports it
    assert all(0 < layer["relative_rmse"] < 10 for layer in ranking if layer["relative_rmse"] is not None)
    assert sum(layer["relative_rmse"] is not None for layer in ranking) >= 3
    assert (out / selective.details["layer_statistics"]).exists()
    for name in ("tflite_int8", "tflite_int8_selective"):
        parity = manifest.artifact(name).parity
        low, high = parity.accuracy_drop_interval_points
        assert low <= parity.accuracy_drop_points <= high, (name, parity)
    # int8 calibration saw inputs in the right range: the quantized input scale covers them
    int8 = manifest.artifact("tflite_int8")
    q = int8.inputs[0].quantization
    scale, zero = q.scale, q.zero_point
    x = EvalData.load(out).x
    covered = ((-128 - zero) * scale, (127 - zero) * scale)
    step = scale  # the range's ends are rounded to whole quantization steps
    assert covered[0] - step <= np.percentile(x, 1) and np.percentile(x, 99) <= covered[1] + step, (covered, x.min())


def test_resnet18_int8_runs_on_xnnpack_and_is_verified(cli, test_models, tmp_path):
    """ResNet-18's full-int8 file from onnx2tf, once refused by XNNPACK and aborting TFLite's
    built-in kernels: its stem MaxPool (3x3, stride 2, pad 1) became a PADV2 with -3.4e38 as
    the pad value, calibrated into a 1.3e36 scale. The SavedModel step now pads it with an
    explicit zero Pad (exact after its Relu), so the file runs wholly on XNNPACK, is verified
    like the other int8 files and keeps the float files' figures."""
    from ai_edge_litert.interpreter import Interpreter

    from deploy_compare.tflite_invoke import kernel_coverage

    out = tmp_path / "resnet18"
    result = cli(
        "export",
        "--model",
        f"{test_models}:resnet18_untrained",
        "--only",
        "tflite_fp32,tflite_int8",
        "--out",
        str(out),
        timeout=1800,
    )
    manifest = load_manifest(out)
    assert result.code == 0 and manifest.failures == {}, result.out + result.err
    assert len(manifest.artifact("savedmodel").details["max_pools_zero_padded"]) == 1  # the stem's
    assert manifest.artifact("tflite_fp32").parity.passed  # zero padding after a Relu is exact
    int8 = manifest.artifact("tflite_int8")
    parity = int8.parity
    assert parity.passed and parity.accuracy is not None, parity
    assert parity.top1_agreement >= QUANTIZED_TOP1_FLOOR
    assert parity.accuracy >= parity.reference_accuracy - QUANTIZED_ACCURACY_DROP
    # no scale near the float range any more (the pooled tensor's was 1.3e36): it is the Relu's
    interpreter = Interpreter(model_path=str(out / int8.path))
    scales = [float(s) for t in interpreter.get_tensor_details() for s in t["quantization_parameters"]["scales"]]
    assert max(scales) < 1e3, max(scales)
    interpreter.allocate_tensors()  # XNNPACK (the default delegate) prepares it: this raised before
    interpreter.invoke()
    coverage = kernel_coverage(interpreter)
    assert coverage is not None and coverage.complete, coverage
