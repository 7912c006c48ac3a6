"""All five in-process runtimes on the real exported artifacts, and their bad inputs."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from deploy_compare.errors import ArtifactError, InputError, RuntimeUnavailable
from deploy_compare.exporters.verify import ParityThresholds, parity_of, run_in_batches
from deploy_compare.runtimes import RUNTIME_FOR_FORMAT, open_runtime
from deploy_compare.runtimes.torchscript_optimize import TIMED_PATTERN

pytestmark = pytest.mark.runtime

ARTIFACTS = [
    *("torchscript", "aoti", "onnx", "onnx_int8", "savedmodel"),
    *("tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8"),
]
ONE_PER_RUNTIME = ["torchscript", "aoti", "onnx", "savedmodel", "tflite_int8"]


@pytest.mark.parametrize("name", ARTIFACTS)
def test_runtime_output_matches_the_reference(exported, eval_data, name):
    out_dir, manifest = exported
    entry = manifest.artifact(name)
    with open_runtime(out_dir, manifest, name, threads=1) as runtime:
        assert runtime.name == RUNTIME_FOR_FORMAT[entry.format]
        outputs = run_in_batches(runtime, eval_data.x)
    assert outputs.dtype == np.float32 and outputs.shape == eval_data.reference.shape
    # The export stage's own thresholds: fp32 within 1e-4 and 100% top-1, fp16 >= 99% top-1,
    # int8 within 2 accuracy points of PyTorch.
    parity = parity_of(entry, outputs, eval_data, ParityThresholds())
    assert parity.passed, parity.failures


@pytest.mark.parametrize("name", ONE_PER_RUNTIME)
def test_any_batch_size_gives_the_same_outputs(exported, eval_data, name):
    out_dir, manifest = exported
    x = eval_data.x[:41]
    with open_runtime(out_dir, manifest, name, threads=1) as runtime:
        whole = runtime.predict(x)
        pieces = np.concatenate([runtime.predict(x[i : i + n]) for i, n in ((0, 1), (1, 7), (8, 33))])
        again = runtime.predict(x[:1])  # back to batch 1 after a larger batch (TFLite re-plans)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-5)
    np.testing.assert_allclose(again, whole[:1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ONE_PER_RUNTIME)
def test_wrong_shape_names_expected_and_given_shape(exported, eval_data, name):
    out_dir, manifest = exported
    nhwc = np.ascontiguousarray(eval_data.x[:2].transpose(0, 2, 3, 1))  # the artifact layout, not the logical one
    with open_runtime(out_dir, manifest, name) as runtime:
        with pytest.raises(InputError) as info:
            runtime.predict(nhwc)
    message = str(info.value)
    assert "(N, 1, 8, 8)" in message and "NCHW" in message and "(2, 8, 8, 1)" in message


@pytest.mark.parametrize("name", ONE_PER_RUNTIME)
def test_wrong_dtype_names_expected_and_given(exported, eval_data, name):
    out_dir, manifest = exported
    with open_runtime(out_dir, manifest, name) as runtime:
        with pytest.raises(InputError) as info:
            runtime.predict(eval_data.x[:3].astype(np.float64))
        with pytest.raises(InputError, match="got list"):
            runtime.predict(eval_data.x[:1].tolist())
    message = str(info.value)
    assert "float32" in message and "float64" in message and "(N, 1, 8, 8)" in message and "(3, 1, 8, 8)" in message


def _copy_with_damaged(exported, tmp_path, name):
    out_dir, manifest = exported
    entry = manifest.artifact(name)
    target = tmp_path / "artifacts"
    target.mkdir()
    shutil.copy(out_dir / "manifest.json", target)
    damaged = target / entry.path
    damaged.write_bytes((out_dir / entry.path).read_bytes()[:5000])  # truncated
    return target, damaged


@pytest.mark.parametrize("name", ["tflite_fp32", "tflite_int8", "onnx", "torchscript", "aoti"])
def test_corrupt_file_error_names_the_file(exported, tmp_path, name):
    _, manifest = exported
    directory, damaged = _copy_with_damaged(exported, tmp_path, name)
    with pytest.raises(ArtifactError, match="corrupt or changed") as info:  # the manifest's sha256 catches it
        open_runtime(directory, manifest, name)
    assert str(damaged) in str(info.value)
    with pytest.raises(ArtifactError, match="not a loadable") as info:  # and so does the runtime itself
        open_runtime(directory, manifest, name, check_hash=False)
    assert str(damaged) in str(info.value)


@pytest.mark.parametrize(
    "name,modules,package",
    [
        ("onnx", ["onnxruntime"], "onnxruntime"),
        (
            "tflite_fp32",
            ["ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"],
            "ai-edge-litert",
        ),
    ],
)
def test_missing_runtime_package_is_runtime_unavailable(exported, monkeypatch, name, modules, package):
    out_dir, manifest = exported
    for module in modules:  # None in sys.modules makes `import module` raise ImportError
        monkeypatch.setitem(__import__("sys").modules, module, None)
    with pytest.raises(RuntimeUnavailable, match=package):
        open_runtime(out_dir, manifest, name)


def test_int8_runtime_quantizes_from_the_manifest(exported, eval_data):
    """The full-int8 artifact takes int8 in and out; callers still pass and get float32."""
    out_dir, manifest = exported
    entry = manifest.artifact("tflite_int8")
    assert entry.inputs[0].dtype == "int8" and entry.inputs[0].quantization is not None
    with open_runtime(out_dir, manifest, "tflite_int8") as runtime:
        out = runtime.predict(eval_data.x[:16])
    assert out.dtype == np.float32
    # dequantized logits are multiples of the output scale, offset by the zero point
    q = entry.outputs[0].quantization
    steps = out / q.scale + q.zero_point
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


@pytest.mark.parametrize(
    ("name", "applied"),
    [
        ("torchscript", {"optimize_for_inference": TIMED_PATTERN}),
        ("onnx", {"graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_threads": "1"}),
        ("onnx_int8", {"graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_threads": "1"}),
        ("aoti", {"threads": "1"}),
    ],
)
def test_runtime_records_what_it_applied(exported, name, applied):
    out_dir, manifest = exported
    with open_runtime(out_dir, manifest, name, threads=1) as runtime:
        assert runtime.applied.keys() == applied.keys()
        for key, want in applied.items():
            assert re.fullmatch(want, runtime.applied[key]) if want is TIMED_PATTERN else runtime.applied[key] == want
