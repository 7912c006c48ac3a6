"""Run the local benchmark: one fresh worker process per (artifact, profile, threads).

The parent never imports an ML framework. It plans the jobs, runs them one after the
other (never in parallel: they would steal each other's cores), and turns whatever
happens into a row: the worker's own result (OK / SKIPPED / FAILED), or FAILED with the
exit status and the last stderr line when a worker crashed or timed out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ConfigError
from ..manifest import Manifest, load_manifest
from .config import BenchConfig, BenchJob
from .job import base_result, run_measurement_process
from .result import BenchResult


def plan_jobs(manifest: Manifest, artifacts: Sequence[str] | None, config: BenchConfig) -> list[BenchJob]:
    names = list(artifacts) if artifacts else list(manifest.artifacts) + sorted(manifest.failures)
    known = set(manifest.artifacts) | set(manifest.failures)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown artifact(s) {', '.join(unknown)}; the manifest has: {', '.join(sorted(known))}")
    return [
        BenchJob(name, profile, threads)
        for name in dict.fromkeys(names)
        for profile in config.profiles
        for threads in config.threads_for(profile)
    ]


def run_job(
    manifest_dir: Path, manifest: Manifest, job: BenchJob, config: BenchConfig, log_dir: Path | None = None
) -> BenchResult:
    """Run one job in a fresh interpreter and return its row, whatever happens."""

    def placeholder(status: str, reason: str) -> BenchResult:
        return base_result(manifest, job.artifact, job.profile, job.threads, "local", config.settings, status, reason)

    if job.artifact in manifest.failures:
        return placeholder("SKIPPED", f"not exported: {manifest.failures[job.artifact]}")
    cmd = [
        sys.executable,
        "-m",
        "deploy_compare.bench_local.worker",
        "--manifest-dir",
        str(manifest_dir),
        "--artifact",
        job.artifact,
        "--profile",
        job.profile,
        "--threads",
        str(job.threads),
        "--settings-json",
        json.dumps(config.settings.to_dict()),
        *(["--pin"] if job.pin else []),
        "--out",
    ]
    result, stderr = run_measurement_process(cmd, config.worker_timeout_s, lambda why: placeholder("FAILED", why))
    _keep_log(log_dir, job, stderr)
    return result


def _keep_log(log_dir: Path | None, job: BenchJob, text: str) -> None:
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{job.artifact}-{job.profile}-t{job.threads}.log").write_text(text, encoding="utf-8")


def run_local_benchmarks(
    manifest_dir: Path,
    artifacts: Sequence[str] | None = None,
    config: BenchConfig | None = None,
    progress: Callable[[str], None] | None = None,
    log_dir: Path | None = None,
) -> list[BenchResult]:
    """Measure every (artifact, profile, threads) of `config`; one BenchResult per job, in plan order.

    `artifacts` None = every artifact in the manifest (export failures become SKIPPED rows).
    Worker stderr (native library logs) goes to log_dir/<artifact>-<profile>-t<threads>.log
    when log_dir is given.
    """
    config = config or BenchConfig()
    manifest_dir = Path(manifest_dir).resolve()
    manifest = load_manifest(manifest_dir)
    jobs = plan_jobs(manifest, artifacts, config)
    results = []
    for i, job in enumerate(jobs, 1):
        if progress:
            progress(f"[{i}/{len(jobs)}] {job.label}: measuring...")
        result = run_job(manifest_dir, manifest, job, config, log_dir)
        if progress:
            detail = (
                f"p50 {result.p50_ms:.3f} ms, p99 {result.p99_ms:.3f} ms" if result.status == "OK" else result.reason
            )
            progress(f"[{i}/{len(jobs)}] {job.label}: {result.status} ({detail})")
        results.append(result)
    return results
