"""The built-in model exported to all twelve artifacts (TorchScript, AOTInductor, ONNX and its int8, seven
more through onnx2tf, two through litert-torch), each verified against PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploy_compare.exporters.verify import reference_accuracy
from deploy_compare.fileio import sha256_of, size_of
from deploy_compare.manifest import MANIFEST_NAME, load_manifest

pytestmark = pytest.mark.export

ALL = (
    *(
        "torchscript",
        "aoti",
        "onnx",
        "onnx_int8",
        "savedmodel",
        "tflite_fp32",
        "tflite_fp16",
        "tflite_dynamic_int8",
        "tflite_int8",
        "tflite_int8_selective",  # full int8, the layers QuantizationDebugger ranks worst kept in float
    ),
    *("litert_torch_fp32", "litert_torch_int8"),  # the second TFLite route
)


def test_reference_model_is_accurate(exported):
    _, manifest = exported
    assert manifest.model.reference_accuracy >= 0.95
    assert manifest.model.eval_samples >= 400  # a real held-out split, not a handful


def test_all_artifacts_pass_parity(exported):
    out_dir, manifest = exported
    assert tuple(manifest.artifacts) == ALL
    assert manifest.failures == {}
    for name, entry in manifest.artifacts.items():
        p = entry.parity
        assert p.passed, (name, p.failures)
        if entry.variant == "fp32":
            assert p.max_abs_diff <= 1e-4 and p.top1_agreement == 1.0, name
        elif entry.variant == "fp16":
            assert p.top1_agreement >= 0.99, name
        else:
            assert p.accuracy >= manifest.model.reference_accuracy - 0.02, name


def test_manifest_describes_files_exactly(exported):
    out_dir, manifest = exported
    raw = json.loads((out_dir / MANIFEST_NAME).read_text())
    assert raw["schema_version"] == 1
    for entry in manifest.artifacts.values():
        path = out_dir / entry.path
        assert size_of(path) == entry.size_bytes > 0
        assert sha256_of(path) == entry.sha256
        if entry.details.get("route") == "litert-torch":  # traced on one sample: a fixed batch of 1
            assert entry.inputs[0].shape[0] == 1, entry.name
        else:
            assert entry.inputs[0].shape[0] is None, f"{entry.name}: batch must be dynamic"
        assert entry.tools and all(v != "not installed" for v in entry.tools.values())
    assert manifest.artifact("onnx").details["opset"] >= 17
    assert manifest.artifact("savedmodel").details["signature"] == "serving_default"


def test_layouts_and_quantization_recorded(exported):
    _, manifest = exported
    assert manifest.artifact("torchscript").inputs[0].layout == "NCHW"
    assert manifest.artifact("onnx").inputs[0].shape == [None, 1, 8, 8]
    for name in ("savedmodel", "tflite_fp32", "tflite_int8"):
        assert manifest.artifact(name).inputs[0].layout == "NHWC"
        assert manifest.artifact(name).inputs[0].shape == [None, 8, 8, 1]
    int8 = manifest.artifact("tflite_int8")
    assert int8.inputs[0].dtype == "int8" and int8.outputs[0].dtype == "int8"
    assert int8.inputs[0].quantization.scale > 0 and int8.outputs[0].quantization.scale > 0
    assert int(int8.details["representative_data"].split()[0]) >= 100
    assert manifest.artifact("tflite_fp32").inputs[0].quantization is None


def test_each_ecosystem_at_its_recommended_best(exported):
    """What was applied is recorded: TorchScript frozen (optimized at load), AOTInductor with a
    dynamic batch, ONNX int8 statically quantized on the same samples as TFLite's full int8."""
    _, manifest = exported
    torchscript = manifest.artifact("torchscript").details
    assert torchscript["frozen"] is True and torchscript["optimize_for_inference"] == "at load"
    assert manifest.artifact("aoti").details["dynamic_batch"].startswith("1..")
    onnx_int8 = manifest.artifact("onnx_int8")
    assert onnx_int8.variant == "int8" and onnx_int8.format == "onnx" and "QDQ" in onnx_int8.details["quantization"]
    same_samples = manifest.artifact("tflite_int8").details["representative_data"]
    assert onnx_int8.details["representative_data"] == same_samples
    assert manifest.skipped == {}


def test_quantized_files_are_smaller(exported):
    _, manifest = exported
    assert manifest.artifact("onnx_int8").size_bytes < 0.5 * manifest.artifact("onnx").size_bytes
    fp32 = manifest.artifact("tflite_fp32").size_bytes
    assert manifest.artifact("tflite_fp16").size_bytes < 0.6 * fp32
    assert manifest.artifact("tflite_int8").size_bytes < 0.35 * fp32


def test_no_partial_files_left_behind(exported):
    out_dir, _ = exported
    assert not list(out_dir.rglob("*.partial"))


def test_eval_data_matches_manifest(exported, eval_data):
    _, manifest = exported
    assert eval_data.x.shape == (manifest.model.eval_samples, *manifest.model.input_shape)
    assert eval_data.x.dtype == np.float32
    assert reference_accuracy(eval_data) == pytest.approx(manifest.model.reference_accuracy)


def test_reload_round_trips(exported):
    out_dir, manifest = exported
    assert load_manifest(out_dir).to_dict() == manifest.to_dict()


def test_training_is_deterministic(tmp_path):
    # Same seed, two empty caches, two trainings: bit-identical weights (a fresh machine
    # must get the same model as this one).
    import torch

    from deploy_compare.models.reference import build

    first = build(tmp_path / "a", progress=lambda message: None).module.state_dict()
    second = build(tmp_path / "b", progress=lambda message: None).module.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
