"""The local benchmark on the real artifacts: worker processes, profiles, SKIPPED and FAILED rows, CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from deploy_compare.bench_local import BenchConfig, MeasureSettings, results_document, run_local_benchmarks
from deploy_compare.bench_local.schema import read_document, validate_document

pytestmark = pytest.mark.runtime

QUICK = MeasureSettings.quick()


def _check_ok_row(row, manifest, settings=QUICK):
    entry = manifest.artifact(row.artifact)
    assert row.status == "OK", row.reason
    assert row.file_size_bytes == entry.size_bytes and row.artifact_sha256 == entry.sha256
    assert row.model_content_hash == manifest.model.content_hash
    assert row.iterations >= settings.min_iterations
    assert row.single_stream_duration_s >= settings.min_duration_s
    assert 0 < row.p50_ms <= row.p90_ms <= row.p99_ms <= row.max_ms
    assert row.load_ms > 0 and row.first_inference_ms > 0 and row.import_ms >= 0
    assert set(row.throughput_samples_per_s) == {1, 8, 32}
    assert all(v > 0 for v in row.throughput_samples_per_s.values())
    assert row.samples_checked == settings.correctness_samples
    # the artifact's own parity (full held-out set) from the export; the sample must not do worse by much
    assert row.top1_agreement >= entry.parity.top1_agreement - 0.02
    assert row.rss_growth_mib is not None and row.rss_import_mib is not None
    # benchmark_model's two peaks: the whole process's high-water mark, so the run's is at least init's
    assert 0 < row.peak_rss_init_mib <= row.peak_rss_mib
    assert row.runtime_version and row.machine["logical_cpus"] >= 1


def test_every_runtime_in_both_profiles(exported):
    out_dir, manifest = exported
    affinity_before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    names = ["torchscript", "onnx", "savedmodel", "tflite_int8"]
    results = run_local_benchmarks(
        out_dir, names, BenchConfig(profiles=("server",), server_threads=(1,), settings=QUICK)
    )
    results += run_local_benchmarks(
        out_dir, ["onnx", "tflite_fp32"], BenchConfig(profiles=("edge",), edge_threads=(1,), settings=QUICK)
    )
    assert [(r.artifact, r.profile) for r in results] == [(n, "server") for n in names] + [
        ("onnx", "edge"),
        ("tflite_fp32", "edge"),
    ]
    for row in results:
        _check_ok_row(row, manifest)
        assert row.device == "local" and row.threads == 1
    server, edge = results[:4], results[4:]
    assert all(r.pinned_cores is None for r in server)
    if hasattr(os, "sched_setaffinity"):
        assert all(r.pinned_cores is not None and len(r.pinned_cores) == 1 for r in edge)
        assert all(r.pinned_cores[0] in os.sched_getaffinity(0) for r in edge)
    if hasattr(os, "sched_getaffinity"):
        assert os.sched_getaffinity(0) == affinity_before  # pinning stayed inside the workers
    assert any("XNNPACK" in note for r in results if r.runtime == "tflite" for note in r.notes)
    validate_document(results_document(results, "local", ["test"]), "local results")


@pytest.fixture
def no_tflite_runtime(tmp_path, monkeypatch):
    """Workers see ai_edge_litert and tflite_runtime as uninstalled (shadow packages that fail to import)."""
    shadow = tmp_path / "shadow"
    for package in ("ai_edge_litert", "tflite_runtime"):
        (shadow / package).mkdir(parents=True)
        (shadow / package / "__init__.py").write_text(f"raise ImportError({package + ' hidden by the test'!r})\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_missing_runtime_package_skips_that_row_and_the_others_run(exported, no_tflite_runtime):
    out_dir, manifest = exported
    results = run_local_benchmarks(
        out_dir,
        ["tflite_fp32", "onnx", "tflite_int8"],
        BenchConfig(profiles=("server",), server_threads=(1,), settings=QUICK),
    )
    by_name = {r.artifact: r for r in results}
    for name in ("tflite_fp32", "tflite_int8"):
        assert by_name[name].status == "SKIPPED", by_name[name].reason
        assert "neither ai-edge-litert nor tflite-runtime" in by_name[name].reason
        assert by_name[name].p50_ms is None
    _check_ok_row(by_name["onnx"], manifest)
    validate_document(results_document(results, "local", ["test"]), "local results")


def test_corrupt_artifact_fails_its_row_naming_the_file(exported, tmp_path):
    out_dir, manifest = exported
    copy = tmp_path / "artifacts"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("savedmodel", "logs"))
    damaged = copy / manifest.artifact("tflite_fp32").path
    damaged.write_bytes(damaged.read_bytes()[:4000])
    results = run_local_benchmarks(
        copy, ["tflite_fp32", "tflite_fp16"], BenchConfig(profiles=("server",), server_threads=(1,), settings=QUICK)
    )
    assert results[0].status == "FAILED" and str(damaged) in results[0].reason
    assert "corrupt" in results[0].reason
    _check_ok_row(results[1], manifest)


def test_a_worker_that_does_not_finish_becomes_a_failed_row(exported):
    out_dir, _ = exported
    config = BenchConfig(profiles=("server",), server_threads=(1,), settings=QUICK, worker_timeout_s=0.3)
    [row] = run_local_benchmarks(out_dir, ["savedmodel"], config)  # importing TensorFlow alone takes longer
    assert row.status == "FAILED" and "timed out after 0.3 s" in row.reason


def test_cli_bench_local_quick_writes_valid_json(exported, tmp_path):
    out_dir, _ = exported
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy_compare.cli",
            "bench-local",
            "--artifacts",
            str(out_dir),
            "--only",
            "tflite_dynamic_int8,onnx",
            "--profile",
            "server,edge",
            "--threads",
            "2",
            "--quick",
            "--out",
            str(out),
            "--logs",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc, results = read_document(out)
    assert [(r.artifact, r.profile, r.threads) for r in results] == [
        ("tflite_dynamic_int8", "server", 2),
        ("tflite_dynamic_int8", "edge", 1),
        ("onnx", "server", 2),
        ("onnx", "edge", 1),
    ]
    assert all(r.status == "OK" for r in results)
    assert doc["command"][:2] == ["deploy-compare", "bench-local"]
    assert "| tflite_dynamic_int8" in proc.stdout  # the table
    assert (tmp_path / "logs" / "onnx-edge-t1.log").exists()


def test_cli_rejects_unknown_artifact_and_bad_thread_list(exported):
    out_dir, _ = exported
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy_compare.cli",
            "bench-local",
            "--artifacts",
            str(out_dir),
            "--only",
            "tflite_int4",
            "--quick",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "unknown artifact(s) tflite_int4" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "deploy_compare.cli", "bench-local", "--threads", "0,x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--threads" in proc.stderr
