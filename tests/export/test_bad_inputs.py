"""Bad input gets one clear error line, a non-zero exit and no traceback (unless --debug)."""

from __future__ import annotations

import shutil

import pytest

from deploy_compare.errors import ArtifactError
from deploy_compare.evaldata import EvalData
from deploy_compare.exporters.verify import verify_artifact

pytestmark = pytest.mark.export


def assert_one_clear_line(result, *fragments):
    assert result.code != 0
    assert "Traceback" not in result.err
    error_lines = [line for line in result.err.splitlines() if "error:" in line]
    assert len(error_lines) == 1, result.err
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, error_lines[0])


def test_factory_module_that_does_not_import(cli, tmp_path):
    result = cli("export", "--model", "no_such_pkg.models:make", "--out", str(tmp_path / "o"))
    assert_one_clear_line(result, "no_such_pkg.models", "cannot import", "ModuleNotFoundError")


def test_factory_file_without_the_factory(cli, tmp_path, test_models):
    result = cli("export", "--model", f"{test_models}:nope", "--out", str(tmp_path / "o"))
    assert_one_clear_line(result, "has no callable 'nope'")


def test_factory_returning_the_wrong_thing(cli, tmp_path, test_models):
    result = cli("export", "--model", f"{test_models}:returns_wrong_thing", "--out", str(tmp_path / "o"))
    assert_one_clear_line(result, "must return a ModelBundle or (module, example_input")


def test_factory_that_raises(cli, tmp_path, test_models):
    result = cli("export", "--model", f"{test_models}:raises_inside", "--out", str(tmp_path / "o"))
    assert_one_clear_line(result, "factory raised RuntimeError: weights file missing")


def test_two_input_model_with_one_example_array_names_the_inputs(cli, tmp_path, test_models):
    # was a raw TypeError traceback from torch.jit.trace: forward() missing 1 required positional argument
    result = cli("export", "--model", f"{test_models}:two_inputs_one_example", "--out", str(tmp_path / "o"))
    assert_one_clear_line(result, "forward() takes 2 input(s) (features, ids)", "tuple in forward() order")


def test_debug_flag_shows_the_traceback(cli, tmp_path, test_models):
    result = cli("--debug", "export", "--model", f"{test_models}:raises_inside", "--out", str(tmp_path / "o"))
    assert result.code != 0 and "Traceback" in result.err


def test_model_that_fails_onnx_export(cli, tmp_path, test_models):
    out = tmp_path / "o"
    only = "torchscript,savedmodel,tflite_fp32"  # what needs ONNX, and what does not
    result = cli("export", "--model", f"{test_models}:not_onnx_exportable", "--only", only, "--out", str(out))
    assert_one_clear_line(result, "onnx:", "failed ONNX export", "linalg_eigvals")
    # the steps that need ONNX say why they did not run; TorchScript still exported
    assert "savedmodel: SKIPPED (not exported: needs onnx, which failed)" in result.out
    manifest = (out / "manifest.json").read_text()
    assert '"torchscript"' in manifest and "needs onnx, which failed" in manifest


def test_parity_failure_names_artifact_figure_and_threshold(cli, tmp_path, exported):
    src, _ = exported
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    result = cli("verify", "--artifacts", str(out), "--only", "savedmodel", "--float-tolerance", "1e-12")
    assert_one_clear_line(result, "savedmodel (savedmodel)", "max abs diff", "> threshold 1e-12")
    warned = cli("verify", "--artifacts", str(out), "--only", "savedmodel", "--float-tolerance", "1e-12", "--warn-only")
    assert warned.code == 0 and "savedmodel: FAILED" in warned.out


@pytest.mark.parametrize("artifact", ["onnx", "tflite_int8", "torchscript"])
def test_truncated_artifact_is_named(cli, tmp_path, exported, artifact):
    src, manifest = exported
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    path = out / manifest.artifact(artifact).path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = cli("verify", "--artifacts", str(out), "--only", artifact)
    assert_one_clear_line(result, str(path), "corrupt or changed")
    # Even when the hash check is bypassed, the runtime's load error names the file.
    with pytest.raises(ArtifactError, match=str(path)):
        verify_artifact(out, manifest, artifact, EvalData.load(out), check_hash=False)


def test_missing_manifest(cli, tmp_path):
    result = cli("verify", "--artifacts", str(tmp_path))
    assert_one_clear_line(result, "manifest.json", "not found", "deploy-compare export")
