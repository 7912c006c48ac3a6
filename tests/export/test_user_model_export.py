"""A second, structurally different model through `--model file.py:factory`, all formats."""

from __future__ import annotations

import pytest

from deploy_compare.manifest import load_manifest

pytestmark = pytest.mark.export


def test_residual_bn_depthwise_model_exports_everywhere(cli, tmp_path, test_models):
    out = tmp_path / "residual"
    result = cli(
        "export",
        "--model",
        f"{test_models}:residual_bn_depthwise",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.code == 0, result.err + result.out
    # progress per step is shown, and the final table lists all twelve artifacts
    for step in (
        "[1/12] torchscript",
        "[2/12] aoti",
        "[5/12] savedmodel",
        "[9/12] tflite_int8",
        "[12/12] litert_torch_int8",
    ):
        assert step in result.out
    manifest = load_manifest(out)
    assert manifest.model.source.endswith(":residual_bn_depthwise")
    assert len(manifest.artifacts) == 12 and manifest.failures == {}
    assert manifest.model.reference_accuracy >= 0.9
    for name, entry in manifest.artifacts.items():
        assert entry.parity.passed, (name, entry.parity.failures)
    # the traced graph really contains the parts that make this model different
    import onnx

    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert "Add" in ops and "Conv" in ops
    groups = [
        a.i
        for n in onnx.load(str(out / "model.onnx")).graph.node
        if n.op_type == "Conv"
        for a in n.attribute
        if a.name == "group"
    ]
    assert 16 in groups, "depthwise convolution (group=16) should survive export"
