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
