"""The text preset (`builtin:text_encoder`): two named int64 inputs through every exporter.

Every export step ends as a verified artifact or as a manifest failure of one line that
names the limit; accuracy is that of the seeded synthetic topic task (models/text.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.evaldata import EvalData
from deploy_compare.exporters.pipeline import ARTIFACT_NAMES
from deploy_compare.models.text import INPUT_NAMES, SEQ_LEN

pytestmark = pytest.mark.export


def test_every_artifact_is_verified_or_names_its_limit_in_one_line(text_exported):
    out, manifest = text_exported
    assert manifest.model.name == "text_encoder" and manifest.model.source == "builtin:text_encoder"
    assert [(t.name, t.dtype, t.shape) for t in manifest.model.inputs] == [
        (name, "int64", [None, SEQ_LEN]) for name in INPUT_NAMES
    ]
    # briefly trained on the synthetic task: accuracy is measured, not assumed
    assert manifest.model.reference_accuracy >= 0.8
    for name in ARTIFACT_NAMES:
        why = manifest.failures.get(name)
        if why is not None:
            assert "\n" not in why and "Traceback" not in why and name in why, (name, why)
            continue
        entry = manifest.artifact(name)
        assert entry.parity.passed, (name, entry.parity.failures)
        # each artifact lists its inputs in the model's order, named and typed as the file wants them
        assert len(entry.inputs) == 2, (name, entry.inputs)
        for logical, spec in zip(manifest.model.inputs, entry.inputs):
            assert logical.name in spec.name or name.startswith("litert_torch"), (name, spec.name)
            assert spec.dtype in ("int64", "int32") and spec.quantization is None, (name, spec)
    # the float paths all made it: TorchScript, ONNX, SavedModel via onnx2tf, TFLite fp32 both routes
    for name in ("torchscript", "onnx", "savedmodel", "tflite_fp32", "tflite_fp16", "litert_torch_fp32"):
        assert name in manifest.artifacts, (name, manifest.failures.get(name))


def test_eval_data_keeps_named_int64_inputs_with_padded_rows(text_exported):
    out, _ = text_exported
    data = EvalData.load(out)
    assert list(data.x) == list(INPUT_NAMES)
    assert all(a.dtype == np.int64 and a.shape[1] == SEQ_LEN for a in data.x.values())
    mask = data.x["attention_mask"]
    assert set(np.unique(mask)) == {0, 1} and (mask == 0).any(axis=1).mean() > 0.5  # most rows are padded
