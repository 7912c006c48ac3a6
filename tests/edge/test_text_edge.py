"""The edge bundle of the text preset: named int64 sample inputs and run_edge.py (assembled from
the same pure modules) feeding both inputs of every .tflite by name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from deploy_compare.bench_local.schema import read_document
from floors import QUANTIZED_TOP1_FLOOR

pytestmark = pytest.mark.runtime


def test_text_bundle_runs_every_tflite_model_on_named_inputs(text_exported, tmp_path):
    from deploy_compare.edge.bundle import write_edge_bundle

    out, manifest = text_exported
    # one file per converter route: TFLiteConverter names the inputs, litert-torch numbers them (args_0, args_1)
    tflite = [n for n in ("tflite_fp32", "litert_torch_fp32") if n in manifest.artifacts]
    assert "tflite_fp32" in tflite
    bundle = write_edge_bundle(out, tmp_path / "bundle", artifacts=tflite, samples=64)
    with np.load(bundle / "sample_inputs.npz") as data:
        assert data["x.input_ids"].dtype == np.int64 and data["x.attention_mask"].shape == (64, 32)
    result = tmp_path / "device.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(bundle / "run_edge.py"),
            "--device",
            "box",
            "--quick",
            "--threads",
            "1",
            "--only",
            ",".join(tflite),
            "--out",
            str(result),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    _, results = read_document(result)
    assert sorted(r.artifact for r in results) == sorted(tflite)
    for r in results:
        assert r.status == "OK", (r.artifact, r.reason)
        assert r.top1_agreement >= QUANTIZED_TOP1_FLOOR, (r.artifact, r.top1_agreement)  # absolute, not its own record
