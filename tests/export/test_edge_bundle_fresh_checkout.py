"""`deploy-compare edge-bundle --out DIR` on a fresh checkout: no manifest yet, so it exports the TFLite files first."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.export


def test_edge_bundle_exports_when_there_is_no_manifest_yet(cli, tmp_path, test_models):
    artifacts, bundle = tmp_path / "artifacts", tmp_path / "bundle"
    result = cli(
        "edge-bundle",
        "--model",
        f"{test_models}:residual_bn_depthwise",
        "--artifacts",
        str(artifacts),
        "--out",
        str(bundle),
    )
    assert result.code == 0, result.err + result.out
    assert "none yet; exporting" in result.out
    # the TFLite files and what they are made from, no server format (no AOTInductor compile)
    exported = set(json.loads((artifacts / "manifest.json").read_text())["artifacts"])
    assert {"onnx", "savedmodel"} <= exported and not exported & {"aoti", "torchscript", "onnx_int8"}, exported
    names = json.loads((bundle / "manifest.json").read_text())["artifacts"]
    assert set(names) == {
        *("tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8", "tflite_int8_selective"),
        *("litert_torch_fp32", "litert_torch_int8"),
    }
    assert (bundle / "run_edge.py").exists()
