"""One measurement in a fresh process: `python -m deploy_compare.bench_local.worker ...`.

Why a process per (artifact, profile, threads): torch and TensorFlow size their thread
pools once per process, peak RSS is a per-process high-water mark, and CPU pinning must
not leak into the parent. The worker always writes one BenchResult as JSON to --out
(status OK, SKIPPED when the runtime package is missing, FAILED with the error); only a
crash leaves no file, and the parent turns that into a FAILED row. The measurement itself
is job.measure_artifact, which the edge runner runs on a device too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..fileio import write_json_atomic
from .job import measure_artifact
from .procedure import MeasureSettings
from .result import BenchResult


def run_job(
    manifest_dir: Path, artifact: str, profile: str, threads: int, pin: bool, settings: MeasureSettings
) -> BenchResult:
    """Measure one artifact of the export in this process, with the runtime its format needs."""
    from ..runtimes import runtime_class

    return measure_artifact(str(manifest_dir), artifact, profile, threads, pin, settings, runtime_class)


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
