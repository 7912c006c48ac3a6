"""The in-process runtimes on the text preset's artifacts: a dict of named int64 inputs in,
the reference logits out; the benchmark procedure slices named batches the same way."""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.bench_local.procedure import MeasureSettings, measure, measure_invoke_only
from deploy_compare.errors import InputError
from deploy_compare.evaldata import EvalData
from deploy_compare.exporters.verify import run_in_batches
from deploy_compare.runtimes import open_runtime
from floors import FP32_ATOL, QUANTIZED_TOP1_FLOOR

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def text_data(text_exported):
    return EvalData.load(text_exported[0])


def test_every_exported_artifact_reproduces_the_reference_on_named_inputs(text_exported, text_data):
    out, manifest = text_exported
    assert manifest.artifacts
    first = {k: v[:64] for k, v in text_data.x.items()}
    reference = text_data.reference[:64]
    for name, entry in manifest.artifacts.items():
        with open_runtime(out, manifest, name, threads=1) as rt:
            got = run_in_batches(rt, first, batch=16)
        agreement = float(np.mean(got.argmax(1) == reference.argmax(1)))
        if entry.variant == "fp32":
            np.testing.assert_allclose(got, reference, atol=FP32_ATOL, err_msg=name)
        else:  # an absolute floor, not the artifact's own parity record
            assert agreement >= QUANTIZED_TOP1_FLOOR, (name, agreement)


def test_inputs_are_checked_by_name_dtype_and_shape(text_exported, text_data):
    out, manifest = text_exported
    ids, mask = text_data.x["input_ids"][:2], text_data.x["attention_mask"][:2]
    with open_runtime(out, manifest, "onnx") as rt:
        with pytest.raises(InputError, match=r"named inputs \['input_ids', 'attention_mask'\]"):
            rt.predict(ids)
        with pytest.raises(InputError, match=r"'attention_mask' must be int64"):
            rt.predict({"input_ids": ids, "attention_mask": mask.astype(np.float32)})
        with pytest.raises(InputError, match=r"'input_ids' must be int64 \(N, 32\)"):
            rt.predict({"input_ids": ids[:, :8], "attention_mask": mask})
        # the order of the dict does not matter: inputs go by name
        np.testing.assert_allclose(
            rt.predict({"attention_mask": mask, "input_ids": ids}), text_data.reference[:2], atol=1e-4
        )


def test_the_benchmark_procedure_runs_named_batches(text_exported, text_data):
    out, manifest = text_exported
    settings = MeasureSettings.quick()
    name = "tflite_fp32"
    with open_runtime(out, manifest, name, threads=1) as rt:
        m = measure(rt.predict, text_data.x, text_data.reference, settings)
        invoke = measure_invoke_only(rt.run_prepared, rt.prepare, text_data.x, settings)
    assert m.top1_agreement == 1.0 and m.samples_checked == min(settings.correctness_samples, 512)
    assert set(m.throughput_samples_per_s) == set(settings.batch_sizes)
    assert invoke.count >= settings.min_iterations
