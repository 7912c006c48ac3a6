"""`run --resume RUN`: continue an interrupted run where it stopped, or refuse with the reason.

A stage is complete when its record says OK, SKIPPED or FAILED (it ran its course); the first
INTERRUPTED stage, the one the run was in when it stopped (Ctrl-C, a busy machine, or a
SIGKILL: a stage in flight is written INTERRUPTED until it ends), and every stage after it run
again. What the cut stage had measured is dropped (it is measured again whole); everything the
complete stages measured is kept as it is.

The run continues with the settings results.json recorded, on the same model and artifacts:
the manifest in the artifacts directory must describe the same model, and every artifact the
run recorded must still be there with the same sha256.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, ManifestError, ResumeError
from .config import RunConfig, RunSection, build
from .results import RunResults, ServedResult, load_results

COMPLETE = ("OK", "SKIPPED", "FAILED")


def recorded_config(results: RunResults) -> RunConfig:
    """The RunConfig the run was started with (results.json's settings and profile)."""
    raw = results.settings
    return RunConfig(profile=results.run.profile, run=build(RunSection, dict(raw.get("run", {})), "[run]"), raw=raw)


def check_same_settings(results: RunResults, asked: RunConfig | None) -> None:
    """ResumeError when settings given with --resume differ from the run's own."""
    if asked is None:
        return
    recorded = results.settings
    differ = sorted(
        f"[{section}] {key}"
        for section in set(recorded) | set(asked.raw)
        for key in set(recorded.get(section, {})) | set(asked.raw.get(section, {}))
        if recorded.get(section, {}).get(key) != asked.raw.get(section, {}).get(key)
    )
    if asked.profile != results.run.profile:
        differ.insert(0, f"profile ({asked.profile}, the run: {results.run.profile})")
    if differ:
        raise ResumeError(f"the settings given differ from the run's: {', '.join(differ[:8])}")


def check_same_artifacts(results: RunResults, manifest_dir: Path) -> None:
    """ResumeError unless `manifest_dir` holds the run's model and every artifact it recorded,
    unchanged (sha256 of the manifest entry and of the file)."""
    from ..manifest import check_artifact_file, load_manifest

    try:
        manifest = load_manifest(manifest_dir)
    except ManifestError as exc:
        raise ResumeError(f"the run's artifacts are gone: {exc}") from None
    if results.model is not None and asdict(manifest.model) != results.model:
        raise ResumeError(f"{manifest_dir}: the manifest describes another model than the run measured")
    for name, recorded in results.artifacts.items():
        entry = manifest.artifacts.get(name)
        if entry is None:
            raise ResumeError(f"{manifest_dir}: artifact {name!r} the run measured is no longer in the manifest")
        if entry.sha256 != recorded.get("sha256"):
            raise ResumeError(
                f"{manifest_dir}: artifact {name!r} changed since the run (sha256 {entry.sha256[:12]}..., "
                f"the run's {str(recorded.get('sha256'))[:12]}...)"
            )
        try:
            check_artifact_file(manifest_dir, entry)
        except ArtifactError as exc:
            raise ResumeError(str(exc)) from None


def load_for_resume(run_dir: Path) -> RunResults:
    from ..servers.supervisor import alive

    results = load_results(run_dir)
    if results.run.complete:
        raise ResumeError(f"{run_dir}: the run completed; nothing to resume")
    if results.run.pid is not None and alive(results.run.pid, results.run.pid_started):
        raise ResumeError(f"{run_dir}: the run is still going (pid {results.run.pid}); stop it first")
    return results


def cut_back(results: RunResults, plan: dict[str, tuple[str | None, int]]) -> tuple[list[str], list[str]]:
    """Keep the complete stages before the first one that did not complete; drop that stage's
    partial measurements and every record after it. `plan`: stage name -> (target or None for
    the in-process stage, repetition). Returns (kept, dropped) stage names."""
    stages = results.run.stages
    first = next((i for i, s in enumerate(stages) if s.status not in COMPLETE), len(stages))
    kept, dropped = stages[:first], stages[first:]
    results.run.stages = kept
    for record in dropped:
        kind, repetition = plan.get(record.name, (None, 0))
        if kind is None:
            results.local = [row for row in results.local if row.get("repetition") != repetition]
        else:
            _drop_served(results, kind, repetition)
    return [s.name for s in kept], [s.name for s in dropped]


def _drop_served(results: RunResults, kind: str, repetition: int) -> None:
    result = next((s for s in results.served if s.key == kind), None)
    if result is None:
        return
    if repetition <= 1:
        results.served.remove(result)
        return
    strip_repetition(result, repetition)
    result.status = "OK"  # the earlier repetitions completed


def strip_repetition(result: ServedResult, repetition: int) -> None:
    """Remove every point `repetition` measured from a served record (its lists of dicts carry
    their repetition), and recombine the SLO search over the repetitions left."""
    from ..repeats import combine_slo

    def keep(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i.get("repetition") != repetition]

    result.sweep = keep(result.sweep)
    result.slo_repeats = keep(result.slo_repeats)
    result.cold_start_repeats = keep(result.cold_start_repeats)
    result.batches = keep(result.batches)
    for cell in result.encodings:
        cell["sweep"] = keep(cell.get("sweep") or [])
    if result.slo is not None and result.slo_repeats:
        result.slo = combine_slo(result.slo_repeats, keep(list((result.slo or {}).get("trials") or [])))


def resumed_entry(kept: list[str], rerun: list[str]) -> dict[str, Any]:
    return {"utc": datetime.now(UTC).isoformat(timespec="seconds"), "kept": kept, "rerun": rerun}


def served_progress(result: ServedResult, repetition: int) -> str:
    """How far a served stage got, in what it had measured (for an INTERRUPTED record)."""

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i.get("repetition", 1) == repetition]

    trials = [t for t in ((result.slo or {}).get("trials") or []) if t.get("repetition", 1) == repetition]
    parts = [
        f"{len(mine(result.sweep))} closed-loop levels",
        f"{len(mine(result.slo_repeats))} SLO searches ({len(trials)} trials)",
        f"{len(mine(result.batches))} further batch sizes",
    ]
    if result.tuning:
        parts.append(f"tuning: {len(result.tuning.get('trials') or [])} settings tried")
    started = "server started" if mine(result.cold_start_repeats) else "server not yet healthy"
    return f"{started}; " + ", ".join(parts)
