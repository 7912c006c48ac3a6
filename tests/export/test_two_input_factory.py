"""A user factory whose model takes two inputs of two dtypes (float features, int64 ids),
given as a tuple in forward() order: named inputs reach the manifest and the artifacts."""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.evaldata import EvalData
from deploy_compare.manifest import load_manifest
from deploy_compare.runtimes import open_runtime

pytestmark = pytest.mark.export


def test_two_input_factory_exports_with_named_inputs(cli, tmp_path, test_models):
    out = tmp_path / "two"
    result = cli("export", "--model", f"{test_models}:two_inputs", "--only", "torchscript,onnx", "--out", str(out))
    assert result.code == 0, result.err + result.out
    manifest = load_manifest(out)
    assert [(t.name, t.dtype, t.shape) for t in manifest.model.inputs] == [
        ("features", "float32", [None, 4]),
        ("ids", "int64", [None, 3]),
    ]
    for name in ("torchscript", "onnx"):
        entry = manifest.artifact(name)
        assert [(t.name, t.dtype) for t in entry.inputs] == [("features", "float32"), ("ids", "int64")]
        assert entry.parity.passed and entry.parity.max_abs_diff <= 1e-5
    # no eval set given: seeded inputs beside the example, integer ids kept within the example's range
    data = EvalData.load(out)
    assert data.x["ids"].dtype == np.int64 and data.x["ids"].min() >= 0 and data.x["ids"].max() < 16
    with open_runtime(out, manifest, "onnx") as rt:
        np.testing.assert_allclose(rt.predict({k: v[:5] for k, v in data.x.items()}), data.reference[:5], atol=1e-5)
