"""One measurement in a fresh process: `python -m deploy_compare.bench_local.worker ...`.

Why a process per (artifact, profile, threads): torch and TensorFlow size their thread
pools once per process, peak RSS is a per-process high-water mark, and CPU pinning must
not leak into the parent. The worker always writes one BenchResult as JSON to --out
(status OK, SKIPPED when the runtime package is missing, FAILED with the error); only a
crash leaves no file, and the parent turns that into a FAILED row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..errors import DeployCompareError, RuntimeUnavailable
from ..fileio import write_json_atomic
from .environment import machine_description, peak_rss_mib, pin_to_cores
from .procedure import MeasureSettings, measure, measure_invoke_only
from .result import BenchResult, failure_reason


def run_job(
    manifest_dir: Path, artifact: str, profile: str, threads: int, pin: bool, settings: MeasureSettings
) -> BenchResult:
    machine = machine_description()  # before pinning: it describes the machine, not the pinned set
    # Pin before any runtime creates its threads.
    pinned, pin_note = pin_to_cores(threads) if pin else (None, None)
    rss_start = peak_rss_mib()

    from ..exporters.verify import EvalData
    from ..manifest import EVAL_DATA_NAME, check_artifact_file, load_manifest
    from ..runtimes import RUNTIME_FOR_FORMAT, open_runtime, runtime_class
    from ..runtimes.tflite import TFLiteRuntime

    manifest = load_manifest(manifest_dir)
    entry = manifest.artifact(artifact)
    result = BenchResult(
        artifact=artifact,
        format=entry.format,
        variant=entry.variant,
        runtime=RUNTIME_FOR_FORMAT[entry.format],
        profile=profile,
        threads=threads,
        device="local",
        status="FAILED",
        pinned_cores=pinned,
        file_size_bytes=entry.size_bytes,
        model_name=manifest.model.name,
        model_content_hash=manifest.model.content_hash,
        artifact_sha256=entry.sha256,
        settings=settings.to_dict(),
        machine=machine,
    )
    if pin_note:
        result.notes.append(pin_note)
    try:
        check_artifact_file(manifest_dir, entry)  # outside the timed load
        eval_path = Path(manifest_dir) / EVAL_DATA_NAME
        if eval_path.exists():
            data = EvalData.load(manifest_dir)
            x, reference = data.x, data.reference
        else:
            raise DeployCompareError(f"{eval_path}: missing (held-out inputs; re-run `deploy-compare export`)")

        cls = runtime_class(entry.format)
        t0 = time.perf_counter_ns()
        try:
            result.runtime_version = cls.import_engine()
        except ImportError as exc:
            raise RuntimeUnavailable(f"runtime {cls.name!r} unavailable: {exc}") from None
        result.import_ms = (time.perf_counter_ns() - t0) / 1e6
        rss_imported = peak_rss_mib()

        t0 = time.perf_counter_ns()
        runtime = open_runtime(manifest_dir, manifest, artifact, threads=threads, check_hash=False)
        result.load_ms = (time.perf_counter_ns() - t0) / 1e6
        try:
            m = measure(runtime.predict, x, reference, settings)
            if isinstance(runtime, TFLiteRuntime):  # benchmark_model's figure beside ours, and XNNPACK's share
                invoke = measure_invoke_only(runtime.run_prepared, runtime.prepare, x, settings)
                result.record_invoke_only(invoke, runtime.kernel_coverage())
            result.notes.extend(runtime.notes)
        finally:
            runtime.close()
        rss_end = peak_rss_mib()
    except RuntimeUnavailable as exc:
        result.status, result.reason = "SKIPPED", failure_reason(exc, DeployCompareError)
        return result
    except Exception as exc:  # any failure becomes this row's reason; the other rows still run
        result.reason = failure_reason(exc, DeployCompareError)
        return result

    result.record_measurement(m, rss_start, rss_imported, rss_end)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy_compare.bench_local.worker")
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--profile", choices=("server", "edge"), required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--pin", action="store_true", help="pin the process to --threads cores")
    parser.add_argument("--settings-json", required=True, help="MeasureSettings.to_dict() as JSON")
    parser.add_argument("--out", type=Path, required=True, help="where to write the BenchResult JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = MeasureSettings.from_dict(json.loads(args.settings_json))
    result = run_job(args.manifest_dir, args.artifact, args.profile, args.threads, args.pin, settings)
    write_json_atomic(args.out, result.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
