"""Unit tests of the small core pieces: atomic writes, lazy CLI, manifest helpers, config checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deploy_compare.errors import ConfigError, ManifestError
from deploy_compare.fileio import atomic_path, sha256_of
from deploy_compare.manifest import ArtifactEntry, TensorSpec, layout_permutation, to_artifact_layout

pytestmark = pytest.mark.unit


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"half a model")
            raise RuntimeError("converter crashed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_directories(tmp_path):
    final = tmp_path / "savedmodel"
    for content in (b"old", b"new"):
        with atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "saved_model.pb").write_bytes(content)
    assert (final / "saved_model.pb").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["savedmodel"]


def test_directory_hash_sees_content_and_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1")
    before = sha256_of(tmp_path / "a")
    (tmp_path / "a" / "x").write_bytes(b"2")
    assert sha256_of(tmp_path / "a") != before


def test_cli_help_imports_no_framework():
    code = (
        "import sys; from deploy_compare import cli; cli.build_parser().format_help(); "
        "heavy = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'onnx') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_layout_conversion():
    batch = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    nhwc = to_artifact_layout(batch, "NCHW", "NHWC")
    assert nhwc.shape == (2, 4, 5, 3) and nhwc[1, 2, 3, 0] == batch[1, 0, 2, 3]
    assert layout_permutation("NCHW", "NCHW") is None
    with pytest.raises(ManifestError, match="no conversion from layout NCHW to NLC"):
        layout_permutation("NCHW", "NLC")


def test_manifest_rejects_unknown_values():
    with pytest.raises(ManifestError, match="layout must be one of"):
        TensorSpec("x", [None, 3], "float32", layout="CHWN")
    with pytest.raises(ManifestError, match="format must be one of"):
        ArtifactEntry("a", "caffe", "fp32", "a.bin", 1, "0", [], [], 0.0, {})


def test_export_options_validate_names():
    from deploy_compare.exporters.pipeline import ExportOptions
    from deploy_compare.exporters.verify import ParityThresholds

    with pytest.raises(ConfigError, match="unknown artifact.*tflite_int4.*allowed: torchscript"):
        ExportOptions(only=("tflite_int4",))
    with pytest.raises(ConfigError, match="fp16_min_top1_agreement must be within"):
        ParityThresholds(fp16_min_top1_agreement=99)


def test_git_commit_from_the_checkout_and_none_for_a_copy_outside_one(tmp_path):
    import shutil

    import deploy_compare
    from deploy_compare.deploy.environment import git_commit

    package = Path(deploy_compare.__file__).parent
    head = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # this test runs from a checkout (editable install)
        assert git_commit().removesuffix("-dirty") == head.stdout.strip()
    # An installed copy: no checkout above it, and pip recorded no git commit for it.
    site = tmp_path / "site-packages"
    shutil.copytree(package, site / "deploy_compare", ignore=shutil.ignore_patterns("__pycache__"))
    code = "from deploy_compare.deploy.environment import git_commit, PACKAGE_DIR; print(PACKAGE_DIR, git_commit())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(site)}, check=True
    ).stdout.split()
    assert out == [str(site / "deploy_compare"), "None"]


def test_machine_description_and_environment_json_describe_the_machine_alike():
    from deploy_compare.deploy.environment import collect
    from deploy_compare.machine import machine_description

    machine, env = machine_description(), collect(["deploy-compare", "run"])
    assert env["cpu_model"] == machine["cpu_model"] and env["memory_total_mib"] == machine["memory_total_mib"]
    assert len(env["usable_cores"]) == machine["allowed_cpus"] and env["logical_cores"] == machine["logical_cpus"]
