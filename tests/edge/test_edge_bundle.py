"""edge-bundle, the bundle's run_edge.py (run with this venv's Python) and ingest-edge."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deploy_compare.bench_local.schema import read_document
from deploy_compare.cli import main as cli_main
from deploy_compare.edge.assemble import assemble_runner
from deploy_compare.edge.bundle import write_edge_bundle
from deploy_compare.edge.ingest import ingest_edge_result
from deploy_compare.errors import ConfigError, ResultsError
from deploy_compare.manifest import load_manifest

pytestmark = pytest.mark.runtime

TFLITE = [
    *("tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8", "tflite_int8_selective"),
    *("litert_torch_fp32", "litert_torch_int8"),
]


def run_runner(bundle: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, str(bundle / "run_edge.py"), *args], capture_output=True, text=True, timeout=600, cwd=bundle.parent
    )


def test_bundle_holds_the_tflite_models_their_entries_samples_and_the_runner(exported, eval_data, edge_bundle):
    out_dir, manifest = exported
    names = sorted(p.name for p in edge_bundle.iterdir())
    assert names == sorted(
        [
            "README.txt",
            "manifest.json",
            "run_edge.py",
            "sample_inputs.npz",
            *(Path(manifest.artifact(n).path).name for n in TFLITE),
        ]
    )
    sub = load_manifest(edge_bundle)
    assert list(sub.artifacts) == TFLITE and sub.failures == {}
    for name, entry in sub.artifacts.items():
        original = manifest.artifact(name)
        assert entry.sha256 == original.sha256 == hashlib.sha256((edge_bundle / entry.path).read_bytes()).hexdigest()
        assert entry.inputs == original.inputs and entry.outputs == original.outputs
    with np.load(edge_bundle / "sample_inputs.npz") as data:
        assert data["x"].dtype == np.float32 and data["x"].shape == (96, 1, 8, 8)
        np.testing.assert_array_equal(data["x"], eval_data.x[:96])
        np.testing.assert_array_equal(data["reference"], eval_data.reference[:96])
    assert (edge_bundle / "run_edge.py").read_text(encoding="utf-8") == assemble_runner()
    assert (edge_bundle / "run_edge.py").stat().st_mode & 0o111  # ./run_edge.py works too


def test_runner_writes_results_in_the_local_schema(edge_bundle, tmp_path):
    out = tmp_path / "devbox.json"
    proc = run_runner(
        edge_bundle,
        "--device",
        "devbox-1",
        "--quick",
        "--threads",
        "1,2",
        "--out",
        str(out),
        "--only",
        "tflite_int8,tflite_fp32",
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc, results = read_document(out)  # validates against BenchResult's generated schema
    assert doc["device"] == "devbox-1" and doc["command"][0] == "run_edge.py"
    assert [(r.artifact, r.threads) for r in results] == [
        ("tflite_int8", 1),
        ("tflite_int8", 2),
        ("tflite_fp32", 1),
        ("tflite_fp32", 2),
    ]
    manifest = load_manifest(edge_bundle)
    for r in results:
        assert r.status == "OK", r.reason
        assert (r.device, r.profile, r.runtime) == ("devbox-1", "edge", "tflite")
        assert r.runtime_version.startswith(("ai-edge-litert ", "tflite-runtime "))
        assert r.iterations >= r.settings["min_iterations"] and 0 < r.p50_ms <= r.p99_ms <= r.max_ms
        assert set(r.throughput_samples_per_s) == {1, 8, 32}
        assert r.top1_agreement >= manifest.artifact(r.artifact).parity.top1_agreement - 0.02
        assert r.samples_checked == r.settings["correctness_samples"]
        assert 0 < r.peak_rss_init_mib <= r.peak_rss_mib  # measured on the device by run_edge.py itself
        assert r.machine["python"] and r.machine["cpu_model"]
        if r.pinned_cores is not None:
            assert len(r.pinned_cores) == min(r.threads, r.machine["allowed_cpus"])


def test_runner_module_runs_in_the_source_tree_with_python_m(edge_bundle, tmp_path):
    # Development mode: the package module (relative imports) restarts itself as `-m` per row.
    out = tmp_path / "dev.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy_compare.edge.runner",
            "--bundle",
            str(edge_bundle),
            "--device",
            "dev",
            "--quick",
            "--only",
            "tflite_int8",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    _, [row] = read_document(out)
    assert (row.artifact, row.status, row.device, row.profile) == ("tflite_int8", "OK", "dev", "edge"), row.reason
    assert row.iterations >= row.settings["min_iterations"] and row.top1_agreement is not None


def test_runner_marks_a_corrupt_model_failed_naming_it_and_runs_the_rest(edge_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(edge_bundle, bundle)
    damaged = bundle / "model_fp16.tflite"
    damaged.write_bytes(damaged.read_bytes()[:3000])
    out = tmp_path / "r.json"
    proc = run_runner(
        bundle, "--device", "pi", "--quick", "--only", "tflite_fp16,tflite_dynamic_int8", "--out", str(out)
    )
    assert proc.returncode == 1  # a FAILED row
    _, results = read_document(out)
    assert results[0].status == "FAILED" and str(damaged) in results[0].reason and "corrupt" in results[0].reason
    assert results[1].status == "OK"


def test_runner_measures_with_the_shared_tflite_runtime_which_checks_shape_and_dtype(edge_bundle):
    """The device opens its models with runtimes.tflite (assembled into run_edge.py), not a copy."""
    import deploy_compare.edge.runner as runner
    from deploy_compare.errors import InputError
    from deploy_compare.evaldata import EvalData
    from deploy_compare.manifest import load_manifest

    manifest = load_manifest(edge_bundle)
    entry = manifest.artifact("tflite_int8")
    runtime_class = runner.tflite_only(entry.format)
    model = runtime_class(edge_bundle / entry.path, entry, "NCHW", 1)
    with pytest.raises(InputError) as info:
        model.predict(np.zeros((2, 8, 8, 1), np.float32))
    assert "(N, 1, 8, 8)" in str(info.value) and "(2, 8, 8, 1)" in str(info.value)
    with pytest.raises(InputError, match="float32.*float64"):
        model.predict(np.zeros((2, 1, 8, 8), np.float64))
    x = EvalData.load(edge_bundle, runner.SAMPLES_NAME).x[:5]
    assert model.predict(x).shape == (5, 10)


@pytest.mark.parametrize("label", ["../evil", "a/b", "", "-x", "x" * 65])
def test_runner_refuses_a_device_label_that_is_not_a_file_name(edge_bundle, label):
    proc = run_runner(edge_bundle, f"--device={label}", "--quick")
    assert proc.returncode == 2 and "device label" in proc.stderr


def test_runner_without_tflite_runtime_writes_skipped_rows(edge_bundle, tmp_path):
    shadow = tmp_path / "shadow"
    for package in ("ai_edge_litert", "tflite_runtime"):
        (shadow / package).mkdir(parents=True)
        (shadow / package / "__init__.py").write_text(f"raise ImportError({package + ' hidden by the test'!r})\n")
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(edge_bundle / "run_edge.py"),
            "--device",
            "bare",
            "--quick",
            "--only",
            "tflite_fp32",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(shadow), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1  # nothing ran
    _, [row] = read_document(out)
    assert row.status == "SKIPPED" and "neither ai-edge-litert nor tflite-runtime" in row.reason


def test_bundle_refuses_to_replace_a_directory_that_is_not_a_bundle(exported, tmp_path):
    out_dir, _ = exported
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not an edge bundle"):
        write_edge_bundle(out_dir, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="not a TFLite artifact"):
        write_edge_bundle(out_dir, tmp_path / "b", artifacts=["onnx"])


def test_cli_edge_bundle_then_runner_then_ingest(exported, tmp_path, capsys):
    out_dir, _ = exported
    bundle = tmp_path / "bundle"
    assert (
        cli_main(
            [
                "edge-bundle",
                "--artifacts",
                str(out_dir),
                "--out",
                str(bundle),
                "--only",
                "tflite_int8",
                "--samples",
                "40",
            ]
        )
        == 0
    )
    assert cli_main(["edge-bundle", "--artifacts", str(out_dir), "--out", str(bundle), "--only", "tflite_int8"]) == 0
    result = tmp_path / "pi5.json"
    assert run_runner(bundle, "--device", "pi5", "--quick", "--out", str(result)).returncode == 0
    run_dir = tmp_path / "runs" / "20250101-000000"
    run_dir.mkdir(parents=True)
    model = load_manifest(out_dir).model
    (run_dir / "results.json").write_text(json.dumps({"model": {"content_hash": model.content_hash}}))
    capsys.readouterr()
    assert cli_main(["ingest-edge", str(result), "--run", str(run_dir)]) == 0
    assert "stored 1 rows (1 OK" in capsys.readouterr().out
    stored = run_dir / "edge" / "pi5.json"
    assert json.loads(stored.read_text()) == json.loads(result.read_text())


def test_ingest_refuses_invalid_files_with_clear_errors(edge_bundle, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    good = tmp_path / "good.json"
    assert (
        run_runner(edge_bundle, "--device", "board", "--quick", "--only", "tflite_int8", "--out", str(good)).returncode
        == 0
    )
    doc = json.loads(good.read_text())

    def write(name, data):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    with pytest.raises(ResultsError, match="not readable JSON"):
        ingest_edge_result(write("trunc.json", good.read_text()[:200]), run_dir)
    missing = json.loads(json.dumps(doc))
    del missing["results"][0]["p99_ms"]
    with pytest.raises(ResultsError, match="results/0.*'p99_ms' is a required property"):
        ingest_edge_result(write("missing.json", missing), run_dir)
    evil = json.loads(json.dumps(doc))
    evil["device"] = evil["results"][0]["device"] = "../../etc"
    with pytest.raises(ResultsError, match="device"):
        ingest_edge_result(write("evil.json", evil), run_dir)
    mixed = json.loads(json.dumps(doc))
    mixed["results"][0]["device"] = "other"
    with pytest.raises(ResultsError, match="other devices"):
        ingest_edge_result(write("mixed.json", mixed), run_dir)
    other_run = tmp_path / "other-run"
    other_run.mkdir()
    (other_run / "results.json").write_text(json.dumps({"model": {"content_hash": "0123456789abcdef"}}))
    with pytest.raises(ResultsError, match="measured model 0123456789abcdef"):
        ingest_edge_result(good, other_run)
    with pytest.raises(ResultsError, match="no such run directory"):
        ingest_edge_result(good, tmp_path / "runs" / "latest")
    assert not (run_dir / "edge").exists() and not (other_run / "edge").exists()  # nothing stored when refused
    assert cli_main(["ingest-edge", str(tmp_path / "missing.json"), "--run", str(run_dir)]) == 1
    assert "missing.json: not a deploy-compare results file" in capsys.readouterr().err
