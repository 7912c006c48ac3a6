"""`deploy-compare run`: export -> in-process benchmarks -> served targets -> report.

Every stage is isolated: a stage that fails becomes a FAILED record with its error and
the run goes on; results.json is rewritten after every stage (and every load level), so
a crash or Ctrl-C never loses what was measured. On Ctrl-C the servers stop (their
launchers are context managers), the run is marked interrupted, and the report is still
rendered from what exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psutil

from ..errors import BusyMachineError, DeployCompareError, message_line
from ..fileio import write_json_atomic
from ..progress import ProgressLog
from .affinity import plan_cores
from .budget import time_left
from .config import RunConfig
from .environment import collect as collect_environment
from .plan import local_stage_names, stage_plan
from .results import RunInfo, RunResults, ServedResult, StageRecord
from .rundir import create_run_dir

ENVIRONMENT_NAME = "environment.json"
#: the reason a stage in flight carries in results.json until it ends
CUT_OFF = "cut off: the run stopped during this stage (killed, or the machine went down)"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Pipeline:
    def __init__(
        self,
        config: RunConfig,
        argv: list[str],
        progress: ProgressLog | None = None,
        on_server_started: Callable[[str, object], None] | None = None,
        render: Callable[[Path], Iterable[Path]] | None = None,
        resume: Path | None = None,
    ) -> None:
        self.config = config
        self.resume = resume  # `run --resume`: the run directory to continue (deploy/resume.py)
        self.argv = argv
        self.progress = progress or ProgressLog()
        self.on_server_started = on_server_started  # a hook for tests (e.g. kill a server mid-run)
        # the report's renderer (report.render_all), given by the command: the report is a layer
        # above the pipeline, so the pipeline calls it without importing it; None renders nothing
        self.render = render
        self.plan = plan_cores()
        self.run_dir: Path | None = None  # set first thing in run(); the CLI reads it after Ctrl-C
        self._results: RunResults | None = None
        self._manifest_dir: Path | None = None
        self._plan: dict[str, tuple[str | None, int]] = {}  # stage name -> (served key or None, repetition)
        self._in_flight: StageRecord | None = None  # the stage running now

    # -- state that exists once run() has started: stages may rely on it -----------------------
    @property
    def results(self) -> RunResults:
        if self._results is None:
            raise RuntimeError("Pipeline.results exists only once run() has started")
        return self._results

    @property
    def manifest_dir(self) -> Path:
        if self._manifest_dir is None:
            raise RuntimeError("Pipeline.manifest_dir exists only once the export stage has run")
        return self._manifest_dir

    @property
    def _run_dir(self) -> Path:
        if self.run_dir is None:
            raise RuntimeError("Pipeline.run_dir exists only once run() has started")
        return self.run_dir

    # -- bookkeeping -------------------------------------------------------------------------
    def save(self) -> None:
        record = self._in_flight
        if record is not None and record.status == "INTERRUPTED":
            record.progress = self._progress_of(record.name)
        self.results.write(self._run_dir)

    def _progress_of(self, name: str) -> str:
        """How far a stage in flight got (written with its INTERRUPTED record)."""
        from .resume import served_progress

        key, repetition = self._plan.get(name, (None, 1))
        served = next((s for s in self.results.served if s.key == key), None)
        if served is not None:
            return served_progress(served, repetition)
        return "the in-process benchmark (its rows are written when it ends)" if name != "export" else "exporting"

    def _stage(self, name: str, fn: Callable[[], tuple[str, str] | None]) -> None:
        """Run one stage; fn returns None (OK) or (status, reason) for SKIPPED/FAILED without raising.

        Until fn returns, results.json records the stage INTERRUPTED with how far it got: a run
        killed mid-stage (SIGKILL, no handler runs) never leaves it marked OK."""
        record = StageRecord(name=name, status="INTERRUPTED", reason=CUT_OFF)
        self.results.run.stages.append(record)
        self._in_flight = record
        self.save()  # on disk at once: a kill before the stage's first figure still leaves it INTERRUPTED
        started = time.monotonic()
        try:
            if name != "export":
                record.busy = self._check_machine(f"before stage {name}").to_dict()["busy"]
            outcome = fn()
            record.status, record.reason, record.progress = "OK", None, None
            if outcome is not None:
                record.status, record.reason = outcome
        except KeyboardInterrupt:
            record.status, record.reason = "INTERRUPTED", "Ctrl-C"
            raise
        except BusyMachineError as exc:  # stops the run: `run --resume` continues it here
            record.status, record.reason = "INTERRUPTED", message_line(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - one stage failing must never lose the others
            record.status, record.reason = "FAILED", message_line(exc)
            if not isinstance(exc, DeployCompareError):
                record.reason = f"{type(exc).__name__}: {record.reason}"
            self.progress.line(f"{name}: FAILED: {record.reason}")
        finally:
            record.seconds = round(time.monotonic() - started, 2)
            self.save()
            self._in_flight = None

    def _check_machine(self, where: str):
        """Leftover servers stopped, busy strangers named (deploy/preflight.py); BusyMachineError
        in [run] busy_machine = "stop" mode."""
        from .preflight import check_machine

        return check_machine(self.config.run, (*self.plan.server, *self.plan.client), self.progress, where=where)

    # -- stages ------------------------------------------------------------------------------
    def _export(self) -> None:
        from ..errors import ExportError, VerificationError
        from ..exporters.pipeline import ExportOptions, default_out_dir
        from ..manifest import load_manifest

        run = self.config.run
        out_dir = Path(run.artifacts_dir) if run.artifacts_dir else default_out_dir(run.model)
        self._manifest_dir = out_dir
        failure = None
        try:
            export_all_logged(ExportOptions(model=run.model, out_dir=out_dir), self.progress.line, self._run_dir)
        except (ExportError, VerificationError) as exc:
            failure = exc  # what did export is still in the manifest; its failures become rows
        manifest = load_manifest(out_dir)
        self.results.model = asdict(manifest.model)
        self.results.artifacts = {name: asdict(entry) for name, entry in manifest.artifacts.items()}
        self.results.export_failures = dict(manifest.failures)
        if failure is not None:
            raise failure

    def _local(self, repetition: int = 1) -> None:
        """One repetition of the in-process benchmark: its rows join the earlier repetitions'
        (each numbered; the report and `diff` take the median over them)."""
        from ..bench_local import run_local_benchmarks

        bench_config = served_threads_measured(self.config, self.plan)
        wanted = self.config.local_artifacts()
        faithful = [
            n
            for n, a in self.results.artifacts.items()
            if (a.get("parity") or {}).get("passed") and (not wanted or n in wanted)
        ]
        log_dir = self._run_dir / "logs" / "bench_local"
        results = run_local_benchmarks(
            self.manifest_dir,
            faithful,
            bench_config,
            progress=self.progress.line,
            log_dir=log_dir if repetition == 1 else log_dir / f"repetition-{repetition}",
        )
        for result in results:
            result.repetition = repetition
        self.results.local.extend(r.to_dict() for r in results)

    def _served(self, key: str, repetition: int = 1) -> tuple[str, str] | None:
        """One served target: `key` names a (stack, artifact) pair of [run] serve (deploy/pairs.py)."""
        from .served import run_served_target

        pair = next(p for p in self.config.run.pairs() if p.key == key)
        kind = pair.stack
        if repetition > 1:  # the same record gathers every repetition
            result = next(s for s in self.results.served if s.key == key)
        else:
            result = ServedResult(target=kind, status="OK", artifact=pair.artifact, repeat=self.config.run.repeat)
            self.results.served.append(result)
        result.status = "INTERRUPTED"  # until this repetition ends: what a SIGKILL leaves in results.json
        self.save()
        artifact = self.results.artifacts.get(result.artifact or "") or {}
        if not (artifact.get("parity") or {}).get("passed"):
            result.status = "SKIPPED"
            result.reason = f"{key}: artifact {result.artifact!r} was not exported or failed verification"
            self.progress.line(f"{key}: SKIPPED: {result.reason}")
            return result.status, result.reason
        try:
            run_served_target(
                kind,
                self.config,
                self.manifest_dir,
                self._run_dir,
                self.plan,
                result,
                self.save,
                self.progress,
                self.on_server_started,
                repetition=repetition,
            )
        except KeyboardInterrupt:
            result.status, result.reason = "INTERRUPTED", "Ctrl-C during the run"
            raise
        except Exception as exc:
            result.status = "FAILED"
            result.reason = message_line(exc) + (f" (repetition {repetition})" if repetition > 1 else "")
            result.log_tail = getattr(exc, "log_tail", None) or None  # ServerError carries it
            raise
        self._split(result)
        # tuned once, with its own format only; repetitions re-measure the points
        if result.status == "INTERRUPTED" and repetition == 1 and pair.own:
            self._tune(kind, result)
        if result.status == "INTERRUPTED":
            result.status = "OK"  # the repetition ran its course
        return None if result.status == "OK" else (result.status, result.reason or "")

    def _split(self, result: ServedResult) -> None:
        """The target's runtime / queue / rest split, from the repetitions measured so far."""
        from .split import served_split

        split = served_split(result, self.results.local, self.config.batch_sizes()[0])
        result.split = split.to_dict() if split is not None else None

    def _tune(self, kind: str, result: ServedResult) -> None:
        """The stack's tune stage (deploy/tune.py): its grid of server settings under the SLO."""
        from .tune import tune_settings, tune_target

        settings = tune_settings(self.config)
        if settings.enabled:
            tune_target(
                kind,
                self.config,
                settings,
                self.manifest_dir,
                self._run_dir,
                self.plan,
                result,
                self.save,
                self.progress,
            )

    def _render(self) -> None:
        if self.render is None:
            return
        for path in self.render(self._run_dir):
            self.progress.line(f"report: wrote {path}")

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> Path:
        if self.config.run.targets:
            from ..clients.distributed import check_scale_out
            from .served import scale_out

            check_scale_out(scale_out(self.config))  # Ray missing / cluster unreachable: before any work
        from .tune import tune_settings

        self.config.validate()  # every section, before a directory or a process exists
        tune_settings(self.config)
        machine = self._check_machine("preflight").to_dict()  # a busy stranger stops it here
        started = time.monotonic()
        if self.resume is None:
            self.run_dir = run_dir = create_run_dir(Path(self.config.run.runs_dir))
            self._results = RunResults(
                run=RunInfo(
                    id=run_dir.name,
                    profile=self.config.profile,
                    started_utc=_utc_now(),
                    command=" ".join(self.argv),
                    cores=self.plan.to_dict(),
                    machine=machine,
                ),
                settings=self.config.raw,
            )
        else:
            self.run_dir = run_dir = Path(self.resume).resolve()
        self.progress.line(
            f"run {run_dir} ({self.config.profile} profile); "
            f"server cores {list(self.plan.server)}, client cores {list(self.plan.client)}"
            + (" (shared: only one core)" if self.plan.shared else "")
        )
        if self.resume is None:
            write_json_atomic(run_dir / ENVIRONMENT_NAME, {**collect_environment(self.argv), "machine": machine})
        stages: list[tuple[str, Callable[[], tuple[str, str] | None]]] = [("export", self._export)]
        # Repetitions interleave the in-process stage and the stacks (local A B local A B): drift
        # on a shared machine hits all alike. Each stack starts once per repetition (seconds,
        # next to minutes of load), so one server at a time owns the server cores and every
        # repetition includes a fresh start.
        served_stages: dict[str, str] = {}
        for name, key, repetition in stage_plan(self.config.run.served_keys(), self.config.run.repeat):
            self._plan[name] = (key, repetition)
            if key is None:
                stages.append((name, partial(self._local, repetition)))
            else:
                served_stages[name] = key
                stages.append((name, partial(self._served, key, repetition)))
        done: set[str] = set()
        earlier_s = 0.0
        if self.resume is not None:
            done, earlier_s = self._resume_where_cut(run_dir, machine)
        me = psutil.Process()
        self.results.run.pid, self.results.run.pid_started = me.pid, me.create_time()
        try:
            for number, (name, fn) in enumerate(stages, 1):
                if name in done:
                    continue  # `run --resume`: this stage completed before the run stopped
                if name != "export" and self.results.model is None:
                    self.results.run.stages.append(StageRecord(name, "SKIPPED", 0.0, "export produced no manifest"))
                    continue
                target = served_stages.get(name)
                earlier = next((s for s in self.results.served if s.key == target), None)
                if earlier is not None and earlier.status != "OK":
                    continue  # SKIPPED or FAILED in an earlier repetition: its record says why
                left = [n for n, _ in stages[number - 1 :]]
                finished = {s.name: s.seconds for s in self.results.run.stages if s.status == "OK"}
                estimate = time_left(self.config, left, self._local_stage_s(), finished)
                self.progress.stage(number, len(stages), name, estimate)
                self._stage(name, fn)
            self.results.run.complete = True
        except (KeyboardInterrupt, BusyMachineError):
            self.results.run.interrupted = True
            self.progress.line("interrupted: servers stopped; writing what was measured (`run --resume` continues it)")
            raise
        finally:
            self.results.run.finished_utc = _utc_now()
            self.results.run.wall_s = round(earlier_s + time.monotonic() - started, 1)
            self.save()
            self._render_safely()
        return run_dir

    def _resume_where_cut(self, run_dir: Path, machine: dict) -> tuple[set[str], float]:
        """Load the run, check its artifacts, keep its complete stages (deploy/resume.py).
        Returns (the stage names kept, the seconds they took)."""
        from ..exporters.pipeline import default_out_dir
        from .resume import check_same_artifacts, cut_back, load_for_resume, resumed_entry

        self._results = results = load_for_resume(run_dir)
        run = self.config.run
        self._manifest_dir = Path(run.artifacts_dir) if run.artifacts_dir else default_out_dir(run.model)
        kept, rerun = cut_back(results, self._plan)
        if "export" in kept:  # the stages kept measured these files: the rest must measure the same
            check_same_artifacts(results, self._manifest_dir)
        results.run.interrupted = False
        results.run.resumed.append({**resumed_entry(kept, rerun), "machine": machine})
        self.progress.line(
            f"resuming: {len(kept)} stage(s) kept ({', '.join(kept) or 'none'}); again from "
            + (rerun[0] if rerun else "the first stage not run")
        )
        self.save()
        return set(kept), sum(s.seconds for s in results.run.stages)

    def _local_stage_s(self) -> float | None:
        """How long the first in-process repetition took (None before it ran or when it failed):
        the estimate of each one still to come."""
        first = next((s for s in self.results.run.stages if s.name in local_stage_names(self.config.run.repeat)), None)
        return first.seconds if first is not None and first.status == "OK" else None

    def _render_safely(self) -> None:
        try:
            self._render()
        except Exception as exc:  # noqa: BLE001 - a renderer bug must not hide results.json
            self.progress.line(f"report: rendering failed ({type(exc).__name__}: {exc}); results.json is intact")


def served_threads_measured(config: RunConfig, plan):
    """[local] as a BenchConfig whose server profile also measures the threads every stack gets
    (one per core it is pinned to: served._server_config), so each served point has an
    in-process figure of the same artifact at the same threads (the split, deploy/split.py).
    An explicit [local] server_threads is kept as written."""
    import dataclasses

    bench = config.bench_config()
    if not config.run.pin_cores or "server_threads" in config.section("local"):
        return bench
    return dataclasses.replace(bench, server_threads=tuple(sorted({*bench.server_threads, len(plan.server)})))


def export_all_logged(options, line: Callable[[str], None], run_dir: Path):
    """export_all with native library logs kept in the run's logs/ folder."""
    from ..exporters.pipeline import export_all
    from ..native_logs import native_stderr_to

    with native_stderr_to(run_dir / "logs" / "export-native.log"):
        return export_all(options, progress=lambda message: line(f"export: {message}"))
