"""Run the local benchmark: one fresh worker process per (artifact, profile, threads).

The parent never imports an ML framework. It plans the jobs, runs them one after the
other (never in parallel: they would steal each other's cores), and turns whatever
happens into a row: the worker's own result (OK / SKIPPED / FAILED), or FAILED with the
exit status and the last stderr line when a worker crashed or timed out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ConfigError
from ..manifest import Manifest, load_manifest
from ..runtimes import RUNTIME_FOR_FORMAT
from .config import BenchConfig, BenchJob
from .environment import machine_description
from .result import BenchResult

XNNPACK_LOG_LINE = "XNNPACK delegate"


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


def _placeholder(manifest: Manifest, job: BenchJob, config: BenchConfig, status: str, reason: str) -> BenchResult:
    """A row for a job whose worker gave no result (or that never ran)."""
    entry = manifest.artifacts.get(job.artifact)
    # An artifact that failed to export has no entry; its name still starts with its format.
    fmt = entry.format if entry else job.artifact.split("_")[0]
    return BenchResult(
        artifact=job.artifact,
        format=fmt,
        variant=entry.variant if entry else "unknown",
        runtime=RUNTIME_FOR_FORMAT.get(fmt, "unknown"),
        profile=job.profile,
        threads=job.threads,
        device="local",
        status=status,
        reason=reason,
        file_size_bytes=entry.size_bytes if entry else None,
        model_name=manifest.model.name,
        model_content_hash=manifest.model.content_hash,
        artifact_sha256=entry.sha256 if entry else None,
        settings=config.settings.to_dict(),
        machine=machine_description(),
    )


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def run_job(
    manifest_dir: Path, manifest: Manifest, job: BenchJob, config: BenchConfig, log_dir: Path | None = None
) -> BenchResult:
    """Run one job in a fresh interpreter and return its row, whatever happens."""
    if job.artifact in manifest.failures:
        return _placeholder(manifest, job, config, "SKIPPED", f"not exported: {manifest.failures[job.artifact]}")
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        out = Path(tmp) / "result.json"
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
            "--out",
            str(out),
        ]
        if job.pin:
            cmd.append("--pin")
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=config.worker_timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            _keep_log(log_dir, job, stderr)
            return _placeholder(manifest, job, config, "FAILED", f"timed out after {config.worker_timeout_s:g} s")
        _keep_log(log_dir, job, proc.stderr)
        if proc.returncode != 0 or not out.exists():
            return _placeholder(
                manifest,
                job,
                config,
                "FAILED",
                f"worker exited with status {proc.returncode}: {_last_error_line(proc.stderr)}",
            )
        result = BenchResult.from_dict(json.loads(out.read_text(encoding="utf-8")))
    if result.runtime == "tflite" and result.status == "OK" and XNNPACK_LOG_LINE in proc.stderr:
        result.notes.append("XNNPACK delegate created (LiteRT log)")
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
