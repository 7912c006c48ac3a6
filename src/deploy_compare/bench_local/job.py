"""One (artifact, profile, threads) measurement, and the parent's side of running it in a child.

Shared by the local benchmark (worker.py in the child, suite.py in the parent) and the
standalone edge runner (edge/runner.py, assembled into run_edge.py), so a device row and
a local row are measured, pinned, checked and failed in the same code. The only
differences are parameters: which runtime class opens a format (the local benchmark has
four, the device only TFLite), the device label and the eval-data file name.

A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..errors import DeployCompareError, RuntimeUnavailable
from ..evaldata import EvalData
from ..machine import machine_description, peak_rss_mib, pin_to_cores
from ..manifest import EVAL_DATA_NAME, Manifest, check_artifact_file, load_manifest
from ..runtimes.base import RUNTIME_FOR_FORMAT, Runtime
from ..runtimes.tflite import TFLiteRuntime
from .procedure import MeasureSettings, measure, measure_invoke_only
from .result import BenchResult, failure_reason

#: a line LiteRT logs on stderr when it applies the XNNPACK delegate
XNNPACK_LOG_LINE = "XNNPACK delegate"


def base_result(
    manifest: Manifest,
    artifact: str,
    profile: str,
    threads: int,
    device: str,
    settings: MeasureSettings,
    status: str,
    reason: str | None = None,
) -> BenchResult:
    """A row with what the manifest says of `artifact` and no figures yet (or never: a
    placeholder for a job whose child gave no result)."""
    entry = manifest.artifacts.get(artifact)
    # An artifact that failed to export has no entry; its name still starts with its format.
    fmt = entry.format if entry else artifact.split("_")[0]
    return BenchResult(
        artifact=artifact,
        format=fmt,
        variant=entry.variant if entry else "unknown",
        runtime=RUNTIME_FOR_FORMAT.get(fmt, "unknown"),
        profile=profile,
        threads=threads,
        device=device,
        status=status,
        reason=reason,
        file_size_bytes=entry.size_bytes if entry else None,
        model_name=manifest.model.name,
        model_content_hash=manifest.model.content_hash,
        artifact_sha256=entry.sha256 if entry else None,
        settings=settings.to_dict(),
        machine=machine_description(),
    )


def measure_artifact(
    manifest_dir: str | Path,
    artifact: str,
    profile: str,
    threads: int,
    pin: bool,
    settings: MeasureSettings,
    runtime_for: Callable[[str], type[Runtime]],
    device: str = "local",
    eval_name: str = EVAL_DATA_NAME,
) -> BenchResult:
    """Measure one artifact in THIS process (a fresh child: pinning and peak RSS are per process).

    Always returns a row: OK, SKIPPED when the runtime package is missing, FAILED with the error.
    `runtime_for(format)` gives the Runtime class (raises RuntimeUnavailable when it cannot).
    """
    machine = machine_description()  # before pinning: it describes the machine, not the pinned set
    # Pin before any runtime creates its threads.
    pinned, pin_note = pin_to_cores(threads) if pin else (None, None)
    rss_start = peak_rss_mib()
    manifest_dir = Path(manifest_dir)
    manifest = load_manifest(manifest_dir)
    entry = manifest.artifact(artifact)
    result = base_result(manifest, artifact, profile, threads, device, settings, "FAILED")
    result.machine, result.pinned_cores = machine, pinned
    if pin_note:
        result.notes.append(pin_note)
    try:
        path = check_artifact_file(manifest_dir, entry)  # outside the timed load
        data = EvalData.load(manifest_dir, eval_name)
        cls = runtime_for(entry.format)
        t0 = time.perf_counter_ns()
        try:
            result.runtime_version = cls.import_engine()
        except ImportError as exc:
            raise RuntimeUnavailable(f"runtime {cls.name!r} unavailable: {exc}") from None
        result.import_ms = (time.perf_counter_ns() - t0) / 1e6
        rss_imported = peak_rss_mib()

        t0 = time.perf_counter_ns()
        try:
            runtime = cls(path, entry, manifest.model.layout, threads, manifest.model.inputs)
        except ImportError as exc:  # the runtime's package is imported lazily, inside _load
            raise RuntimeUnavailable(f"runtime {cls.name!r} unavailable: {exc}") from None
        result.load_ms = (time.perf_counter_ns() - t0) / 1e6
        rss_loaded = peak_rss_mib()  # benchmark_model's "init" peak: model loaded, tensors allocated
        try:
            m = measure(runtime.predict, data.x, data.reference, settings)
            if isinstance(runtime, TFLiteRuntime):  # benchmark_model's figure beside ours, and XNNPACK's share
                invoke = measure_invoke_only(runtime.run_prepared, runtime.prepare, data.x, settings)
                result.record_invoke_only(invoke, runtime.kernel_coverage())
            result.notes.extend(runtime.notes)
            result.runtime_settings.update(runtime.applied)
        finally:
            runtime.close()
        rss_end = peak_rss_mib()
    except RuntimeUnavailable as exc:
        result.status, result.reason = "SKIPPED", failure_reason(exc, DeployCompareError)
        return result
    except Exception as exc:  # any failure becomes this row's reason; the other rows still run
        result.reason = failure_reason(exc, DeployCompareError)
        return result

    result.record_measurement(m, rss_start, rss_imported, rss_end, rss_loaded)
    return result


def last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def run_measurement_process(
    command: list[str], timeout_s: float, placeholder: Callable[[str], BenchResult]
) -> tuple[BenchResult, str]:
    """Run a child that measures one job; return (its row, its stderr). `command` ends with the
    child's output flag (e.g. `--out`): the path of the JSON row it writes is appended here.

    A child that crashed, timed out or wrote nothing becomes placeholder("FAILED reason").
    """
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        out = os.path.join(tmp, "result.json")
        try:
            proc = subprocess.run(
                command + [out],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return placeholder(f"timed out after {timeout_s:g} s"), stderr
        if proc.returncode != 0 or not os.path.exists(out):
            reason = f"measurement process exited with status {proc.returncode}: {last_error_line(proc.stderr)}"
            return placeholder(reason), proc.stderr
        with open(out, encoding="utf-8") as fh:
            result = BenchResult.from_dict(json.load(fh))
    if result.runtime == "tflite" and result.status == "OK" and XNNPACK_LOG_LINE in proc.stderr:
        result.notes.append("XNNPACK delegate created (LiteRT log)")
    return result, proc.stderr
