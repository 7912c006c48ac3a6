"""The litert-torch route on its own: an LSTM straight from PyTorch to TFLite, verified, its XNNPACK fallback named."""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.manifest import load_manifest

pytestmark = pytest.mark.export


def test_lstm_exports_through_litert_torch_and_names_its_fallback_op(cli, tmp_path, test_models):
    out = tmp_path / "lstm"
    result = cli(
        "export",
        "--model",
        f"{test_models}:row_lstm",
        "--only",
        "litert_torch_fp32",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.code == 0, result.err + result.out
    manifest = load_manifest(out)
    assert list(manifest.artifacts) == ["litert_torch_fp32"]  # no ONNX / onnx2tf step was needed
    entry = manifest.artifacts["litert_torch_fp32"]
    assert entry.details["route"] == "litert-torch" and entry.parity.passed, entry.parity.failures
    assert entry.parity.max_abs_diff <= 1e-4 and entry.parity.accuracy >= 0.8

    from deploy_compare.evaldata import EvalData
    from deploy_compare.runtimes import open_runtime

    data = EvalData.load(out)
    with open_runtime(out, manifest, "litert_torch_fp32", threads=1) as runtime:
        np.testing.assert_allclose(runtime.predict(data.x[:8]), data.reference[:8], atol=1e-4)
        coverage = runtime.kernel_coverage()
    # XNNPACK takes the unrolled LSTM but not every op: the rest runs on TFLite's built-in kernels
    assert coverage is not None and 0 < coverage.delegated_ops < coverage.total_ops
    assert coverage.fallback_ops and not coverage.complete


def test_int8_layers_are_ranked_against_the_fp32_file(exported):
    """litert_torch_int8's op outputs matched to litert_torch_fp32's, dequantized and ranked as the
    onnx2tf route's layers are (RMSE over the quantization step): a real, uneven error."""
    import csv

    out_dir, manifest = exported
    details = manifest.artifact("litert_torch_int8").details
    assert details["layer_comparison"] == "done" and details["compared_against"] == "litert_torch_fp32"
    matched = details["tensors_matched"]
    assert (
        matched["matched"] + matched["unmatched"]
        == matched["op_outputs"]
        == sum(matched["by"].values()) + matched["unmatched"]
    )
    assert matched["matched"] >= 0.75 * matched["op_outputs"] and matched["by"]["name"] >= 0.5 * matched["matched"]
    assert details["debug_samples"] == 32
    ranking = details["layer_error_ranking"]
    assert len(ranking) == min(10, details["layers_compared"]) >= 3
    with open(out_dir / details["layer_statistics"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(row["matched_by"] == "unmatched" for row in rows) == matched["unmatched"]
    errors = np.array([float(row["rmse_over_scale"]) for row in rows if row["rank"]])
    assert len(errors) == details["layers_compared"] and errors[0] == ranking[0]["rmse_over_scale"]
    assert np.all(np.isfinite(errors)) and np.all(errors > 0)  # int8 differs from float at every layer
    assert errors[0] > np.median(errors)  # and more at some layers than at others
    assert all(0 < layer["relative_rmse"] < 1 for layer in ranking)
