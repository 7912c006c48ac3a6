"""Shared fixtures. Heavy imports stay inside fixtures so `-m unit` runs stay fast.

`exported` is the real export of the built-in model, made once per test session into
.cache/test-artifacts (reused across sessions while the model and tools are unchanged).
Treat it as read-only: a test that damages artifacts copies them to tmp_path first.
Unit tests never use it: they get `synthetic_manifest`, a manifest.json + eval.npz with
small placeholder files (no model, no exporter), enough for code that reads the manifest
and checks files against it but never loads a model.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ci_policy.py: test dirs are not on sys.path here

import ci_policy  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO / ".cache"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A run's preflight stops when another process keeps the cores busy ([run] busy_machine "stop",
# deploy/preflight.py). In the suite, the test runner's other work and other engineers' tests on a
# shared machine are such processes: runs here measure beside them and mark it ("warn"). A test
# of the refusal sets the mode in its own settings, which win over this default.
os.environ.setdefault("DEPLOY_COMPARE_BUSY_MACHINE", "warn")


def _tiers(config: pytest.Config) -> set[str]:
    """The tier markers: the list in pyproject.toml (plugins register others, like timeout and anyio)."""
    with open(REPO / "pyproject.toml", "rb") as fh:
        markers = tomllib.load(fh)["tool"]["pytest"]["ini_options"]["markers"]
    return {line.split(":", 1)[0].strip() for line in markers}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: `make test-fast` (-m unit) refuses an unmarked test too
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse the run when a test carries no tier marker or several: `-m TIER` must select each test exactly once."""
    tiers = _tiers(config)
    wrong = []
    for item in items:
        marks = sorted({mark.name for mark in item.iter_markers()} & tiers)
        if len(marks) != 1:
            wrong.append(f"{item.nodeid}: {marks or 'no tier marker'}")
    if wrong:
        raise pytest.UsageError(
            f"{len(wrong)} test(s) without exactly one tier marker ({', '.join(sorted(tiers))}):\n  "
            + "\n  ".join(wrong)
        )


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


def _fail_unexpected_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under CI, a skip not in ci_policy.ALLOWED_SKIPS becomes a failure (its capability is broken)."""
    if report.skipped and ci_policy.strict() and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if ci_policy.allowed_reason(reason) is None:
            report.outcome = "failed"
            report.longrepr = f"CI forbids this skip (tests/ci_policy.py lists the allowed ones): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(trylast=True)  # near the end of the output, beside the short test summary
def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The skip list, each with its reason and whether CI accepts it (at the end of .ci/run's output)."""
    skipped = terminalreporter.stats.get("skipped", [])
    terminalreporter.section(f"skips: {len(skipped)} (CI accepts only those tests/ci_policy.py lists)")
    for report in skipped:
        reason = _skip_reason(report)
        verdict = "allowed in CI" if ci_policy.allowed_reason(reason) else "NOT allowed in CI"
        terminalreporter.write_line(f"{report.nodeid}: {verdict}: {reason}")


@pytest.fixture(scope="session")
def exported():
    """(artifacts directory, Manifest) of the built-in digits CNN, all ten artifacts."""
    from deploy_compare.exporters.pipeline import ExportOptions, export_all

    out_dir = TEST_CACHE / "test-artifacts" / "digits_cnn"
    out_dir.mkdir(parents=True, exist_ok=True)
    # Several pytest processes may share this cache on a developer machine: one exports, the rest wait.
    with open(out_dir.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = export_all(
            ExportOptions(out_dir=out_dir, cache_dir=TEST_CACHE / "models"), progress=lambda message: None
        )
    return out_dir, manifest


@pytest.fixture(scope="session")
def text_exported():
    """(artifacts directory, Manifest) of the text preset (two int64 inputs), every step run.

    Parity failures are kept in the manifest rather than raised (the tests read them); an
    export step that fails still raises after the manifest is written, so it is loaded back."""
    from deploy_compare.errors import ExportError
    from deploy_compare.exporters.pipeline import ARTIFACT_NAMES, ExportOptions, export_all
    from deploy_compare.manifest import load_manifest

    out_dir = TEST_CACHE / "test-artifacts" / "text_encoder"
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        options = ExportOptions(
            model="builtin:text_encoder",
            out_dir=out_dir,
            cache_dir=TEST_CACHE / "models",
            parity_failures_are_errors=False,
            # AOTInductor's g++ compile costs CI a minute per model; the digits export covers it
            only=tuple(name for name in ARTIFACT_NAMES if name != "aoti"),
        )
        try:
            manifest = export_all(options, progress=lambda message: None)
        except ExportError:
            manifest = load_manifest(out_dir)
    return out_dir, manifest


@pytest.fixture(scope="session")
def eval_data(exported):
    from deploy_compare.evaldata import EvalData

    return EvalData.load(exported[0])


@pytest.fixture(scope="session")
def synthetic_manifest(tmp_path_factory) -> Path:
    """A directory with manifest.json (torchscript, onnx and savedmodel entries), eval.npz and placeholder
    artifact files whose sha256 match the manifest. Nothing in it is a loadable model."""
    import numpy as np

    from deploy_compare.evaldata import EvalData
    from deploy_compare.fileio import sha256_of
    from deploy_compare.manifest import ArtifactEntry, Manifest, ModelInfo, Parity, TensorSpec

    out = tmp_path_factory.mktemp("synthetic-manifest")
    (out / "model.pt").write_bytes(b"placeholder: not a TorchScript file")
    (out / "model.onnx").write_bytes(b"placeholder: not an ONNX file")
    (out / "savedmodel").mkdir()  # the exporter's layout: savedmodel/saved_model.pb
    (out / "savedmodel" / "saved_model.pb").write_bytes(b"placeholder: not a SavedModel")
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 8, 8), dtype=np.float32)
    reference = rng.standard_normal((16, 10)).astype(np.float32)
    EvalData(x=x, y=reference.argmax(1), reference=reference).save(out)
    parity = Parity(16, 0.0, 1.0, 1.0, 1.0, True)

    def entry(name: str, fmt: str, path: str, layout: str, shape: list[int | None]) -> ArtifactEntry:
        return ArtifactEntry(
            name=name,
            format=fmt,
            variant="fp32",
            path=path,
            size_bytes=64,
            sha256=sha256_of(out / path),
            inputs=[TensorSpec("input", shape, "float32", layout)],
            outputs=[TensorSpec("logits", [None, 10], "float32", "NC")],
            export_seconds=0.0,
            tools={"torch": "2.13.0+cpu"},  # what the Docker launchers pass as the exporter's version
            parity=parity,
        )

    Manifest(
        model=ModelInfo("digits_cnn", "synthetic", [1, 8, 8], "NCHW", 10, "0" * 16, 16, 1.0),
        artifacts={
            "torchscript": entry("torchscript", "torchscript", "model.pt", "NCHW", [None, 1, 8, 8]),
            "onnx": entry("onnx", "onnx", "model.onnx", "NCHW", [None, 1, 8, 8]),
            "savedmodel": entry("savedmodel", "savedmodel", "savedmodel", "NHWC", [None, 8, 8, 1]),
        },
        created_utc="2026-01-01T00:00:00+00:00",
        tools={},
    ).write(out)
    return out
