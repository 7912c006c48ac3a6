"""One served target: launch (mode, image, core pinning, cold start), then the measurement
scenario (deploy/scenario.py) against the launcher's endpoint, recorded as it goes
(deploy/record.py), with the progress lines, health checks and the server monitor listening
(deploy/listeners.py).

Everything measured is appended to the ServedResult as soon as it exists, so a server
that dies mid-run still leaves the levels it finished in results.json.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ServerUnavailable
from .affinity import CorePlan, pin_self, pin_tree, usable_cores
from .config import RunConfig, build
from .listeners import Health, ServedProgress, ServerView
from .record import ServedRecord
from .results import ServedResult
from .scenario import At, EncodingPlan, Events, Runs, Scenario, ScenarioSettings


def _server_config(kind: str, config: RunConfig, plan: CorePlan):
    from ..servers.registry import get

    stack = get(kind)
    table = config.section(kind)
    threads = stack.threads_field
    if threads and config.run.pin_cores and threads not in table:
        table[threads] = len(plan.server)  # one intra-op thread per core the server owns
    return build(stack.config_class, table, f"[{kind}]")


def encoding_plans(stack, endpoint, encodings: tuple[str, ...], mode: str | None) -> list[EncodingPlan]:
    """The launcher's endpoint re-pointed at each encoding's adapter; a stack that does not
    speak one, or a launcher without the port it needs, gives a reason (a SKIPPED cell)."""
    plans = []
    for encoding in encodings:
        reason = stack.encoding_reason(encoding)
        if reason is not None:
            plans.append(EncodingPlan(encoding, None, reason))
            continue
        ep = dataclasses.replace(endpoint, encoding=stack.encoding_name(encoding))
        if encoding == "grpc" and not ep.grpc_target:
            plans.append(
                EncodingPlan(encoding, None, f"{stack.label_for(mode)}: the {mode} launcher opens no gRPC port")
            )
            continue
        plans.append(EncodingPlan(encoding, ep, None))
    return plans


def scale_out(config: RunConfig):
    """[load] client_processes / ray_address as a clients.distributed.ScaleOut ("" = no address)."""
    from ..clients.distributed import ScaleOut

    load = config.section("load")
    processes = load.get("client_processes", 1)
    address = load.get("ray_address") or None
    try:
        return ScaleOut(processes=processes, address=address)
    except ConfigError as exc:
        raise ConfigError(f"[load]: {exc}") from None


def other_levels(levels: list[int]) -> tuple[int, ...]:
    """Each further encoding's levels: the lowest and the highest of the sweep. One request at a
    time says what the encoding costs a request, the top level what it costs throughput (and
    picks slo_encoding "best"); the levels between add time, not an answer."""
    return tuple(dict.fromkeys((min(levels), max(levels)))) if levels else ()


def scenario_settings(config: RunConfig, *, sweep: bool = True, chosen: str | None = None) -> ScenarioSettings:
    """The served stage's scenario from [load] and [slo]: every level at the first batch size,
    [load] batch_concurrency at the others, the lowest and highest levels for each further
    encoding. `sweep`
    False (the tune stage's trials): concurrency 1 alone (it bounds and seeds the search,
    clients/slo.py), then the SLO searches."""
    levels, closed, open_loop, slo = config.load_settings()
    return ScenarioSettings(
        closed=closed,
        open_loop=open_loop,
        slo=slo,
        batch_sizes=tuple(config.batch_sizes()),
        levels=tuple(levels) if sweep else (1,),
        batch_levels=tuple(config.batch_levels()) if sweep else (),
        other_levels=other_levels(levels) if sweep else (),
        # an earlier repetition's (or the tune stage's) choice holds: the same requests every time
        slo_encoding=chosen or config.slo_encoding(),
    )


def run_served_target(
    kind: str,
    config: RunConfig,
    manifest_dir: Path,
    run_dir: Path,
    plan: CorePlan,
    result: ServedResult,
    save: Callable[[], None],
    progress,
    on_started: Callable[[str, object], None] | None = None,
    repetition: int = 1,
    *,
    sweep: bool = True,
) -> None:
    """Fill `result` in place (repetition > 1: add that repetition's points to it).
    Raises ServerError/LoadError (-> FAILED); sets SKIPPED itself.

    The first request batch size of [load] batch_sizes fills result.sweep / result.slo; each
    further one gets its closed-loop levels ([load] batch_concurrency) and its SLO search in
    result.batches (scenario_settings says what `sweep` False leaves out).
    """
    from ..servers.registry import get

    stack = get(kind)
    if stack.max_server_cores is not None:
        plan = dataclasses.replace(plan, server=plan.server[: stack.max_server_cores])
    server_config = _server_config(kind, config, plan)
    # validated before a server starts; an earlier repetition's choice of encoding holds
    settings = scenario_settings(config, sweep=sweep, chosen=result.encoding)
    scale = scale_out(config)
    result.server_config = server_config.to_dict()
    result.load_client = scale.to_dict()
    progress.line(f"{result.key}: preparing ({config.run.server_mode} mode; Docker builds its image now)")
    launch = _Launch(kind, config, manifest_dir, run_dir, plan, result, progress, repetition)
    launcher = launch.make(server_config)
    if launcher is None:
        return
    own_cores = tuple(usable_cores())
    pool = None
    try:
        if scale.distributed:
            from ..clients.distributed import ClientPool

            # Started before the server (a cluster that cannot place the actors fails the target
            # before any server runs) and before the pin below (Ray's own processes are not the server's).
            progress.line(f"{result.key}: starting {scale.processes} client actors on {scale.address or 'a local Ray'}")
            pool = ClientPool(scale).__enter__()
        with launch.start(launcher):
            if on_started is not None:
                on_started(kind, launcher)
            _measure(launch, launcher, settings, pool, save, sweep)
    except BaseException:
        launcher.stop()  # a failed image build happens outside `with`
        raise
    finally:
        if config.run.pin_cores:
            pin_self(own_cores)
        if pool is not None:
            pool.close()  # actors killed, Ray shut down (a local Ray's processes with it)


@dataclasses.dataclass
class _Launch:
    """One launch of a stack: its launcher made and started, cores pinned, the cold start."""

    kind: str
    config: RunConfig
    manifest_dir: Path
    run_dir: Path
    plan: CorePlan
    result: ServedResult
    progress: Any
    repetition: int

    @property
    def again(self) -> str:
        return f" (repetition {self.repetition}/{self.result.repeat})" if self.result.repeat > 1 else ""

    def make(self, server_config: Any) -> Any:
        """The launcher (Docker: its image built or found), or None: SKIPPED, with the reason."""
        from ..servers import make_launcher
        from ..servers.docker_base import DockerLauncher

        kind, result, progress, run = self.kind, self.result, self.progress, self.config.run
        # Each repetition's server gets its own folder: its log never overwrites the last one's.
        servers_dir = self.run_dir / "servers" / (f"repetition-{self.repetition}" if self.repetition > 1 else "")
        try:
            launcher = make_launcher(
                kind,
                run.server_mode,
                manifest_dir=self.manifest_dir,
                # another pair of the same stack gets a folder of its own (its launcher's folder is per stack)
                run_dir=servers_dir / result.key.replace(":", "-") if result.key != kind else servers_dir,
                config=server_config,
                artifact=result.artifact,  # the stack's own, or the artifact [run] serve paired it with
            )
        except ServerUnavailable as exc:
            result.status, result.reason = "SKIPPED", str(exc)
            progress.line(f"{result.key}: SKIPPED: {exc}")
            return None
        result.mode = launcher.mode
        if isinstance(launcher, DockerLauncher):  # make_launcher built the image, timed apart from start-to-healthy
            result.image = launcher.image_tag
            if self.repetition == 1 or result.image_build_s is None:  # later repetitions find the image: ~0
                result.image_build_s = _round(launcher.build_s)
            progress.line(
                f"{result.key}: image {launcher.image_tag} ready ({launcher.build_s or 0:.1f}s to build or find)"
            )
            if run.pin_cores:
                launcher.cpuset = tuple(self.plan.server)  # the engine's cpuset; the client pins itself later
        if launcher.mode_note:  # auto mode fell back (e.g. the image could not be built): the row says so
            result.reason = launcher.mode_note
            progress.line(f"{result.key}: {launcher.mode_note}")
        self._log(launcher)  # known before the start: a stack that fails to start still points to its log
        launcher.memory_limit_mib = run.server_memory_limit_mib or None
        return launcher

    def _log(self, launcher: Any) -> None:
        self.result.log = str(Path(launcher.log_path).resolve().relative_to(self.run_dir.resolve()))

    def start(self, launcher: Any) -> Any:
        """`with launch.start(launcher):` the server up and healthy, server and client pinned."""
        from contextlib import contextmanager

        @contextmanager
        def started():
            self.progress.line(f"{self.result.key}: starting {launcher.describe()}{self.again}")
            pinning = self.config.run.pin_cores and launcher.mode == "native"
            if pinning:
                pin_self(self.plan.server)  # the server's processes and threads inherit this at start
            with launcher:
                self._healthy(launcher, pinning)
                yield launcher

        return started()

    def _healthy(self, launcher: Any, pinning: bool) -> None:
        from ..servers.factory import server_versions

        result, plan = self.result, self.plan
        if result.startup_s is None:  # the median over the repetitions replaces it after the cold start
            result.startup_s = _round(launcher.startup_s)
        result.versions = server_versions(launcher)
        result.effective_settings = launcher.effective_settings()
        self._log(launcher)
        self.progress.line(f"{self.result.key}: healthy after {launcher.startup_s:.1f}s")
        if pinning and launcher.pid is not None:
            threads = pin_tree(launcher.pid, plan.server)  # again: threads made before our pin
            result.server_cores = list(plan.server)
            self.progress.line(f"{self.result.key}: {threads} server threads on cores {list(plan.server)}")
        cpuset = getattr(launcher, "cpuset", None)
        if cpuset:
            result.server_cores = list(cpuset)
        if self.config.run.pin_cores and pin_self(plan.client):
            result.client_cores = list(plan.client)

    def cold_start(self, launcher: Any, payloads: Any, timeout_s: float) -> None:
        """Launch to first inference and the first requests' latencies, before any other request."""
        from .coldstart import measure_cold_start

        result = self.result
        healthy_at = launcher.healthy_at if launcher.healthy_at is not None else time.monotonic()
        cold = measure_cold_start(payloads, launcher.startup_s, healthy_at, timeout_s)
        cold.image_build_s = result.image_build_s
        result.cold_start_repeats.append({**cold.to_dict(), "repetition": self.repetition})
        if result.cold_start is None or self.repetition == 1:
            result.cold_start = cold.to_dict()
        result.startup_s = _median_startup(result.cold_start_repeats)
        self.progress.line(
            f"{self.result.key}: first inference {_s(cold.launch_to_first_inference_s)} after launch; first requests "
            + ", ".join(f"{ms:.1f}" for ms in cold.first_requests_ms)
            + " ms"
            + (f" ({cold.note})" if cold.note else "")
        )


def _measure(
    launch: _Launch, launcher: Any, settings: ScenarioSettings, pool: Any, save: Callable[[], None], sweep: bool
) -> None:
    """The scenario against the started server, its listeners attached."""
    from ..clients import run_closed_loop, run_open_loop
    from ..clients.payload import payloads_from_export
    from ..manifest import load_manifest
    from ..servers.registry import get

    kind, config, result = launch.kind, launch.config, launch.result
    stack = get(kind)
    manifest = load_manifest(launch.manifest_dir)
    plans = encoding_plans(stack, launcher.endpoint, config.encodings(), launcher.mode)
    ready = [p for p in plans if p.reason is None]
    first = next((p for p in ready if p.encoding == result.encoding), ready[0] if ready else None)
    if not sweep:  # the tune stage's trials: the SLO encoding alone
        plans = [p for p in plans if p.reason is not None or p is first]

    def payloads(endpoint: Any, batch_size: int) -> Any:
        return payloads_from_export(
            endpoint, launch.manifest_dir, manifest, artifact=result.artifact or stack.artifact, batch_size=batch_size
        )

    cold = {"measured": False}

    def cold_start(at: At, payloads: Any) -> None:
        # the scenario's very first requests, whichever encoding they use (slo_encoding "best"
        # sweeps every encoding before the main one)
        if not cold["measured"]:
            cold["measured"] = True
            launch.cold_start(launcher, payloads, settings.closed.timeout_s)

    events = Events()
    events.on("batch_started", cold_start)
    events.add(ServerView(launcher))  # first: the server's view is in each result before it is recorded
    events.add(ServedRecord(result, save, launch.repetition, plans))
    events.add(ServedProgress(launch.progress, result.key, len(plans), launch.repetition, result.repeat))
    events.add(Health(launcher, kind))
    runs = Runs(
        closed=pool.run_closed if pool is not None else run_closed_loop,
        open=pool.run_open if pool is not None else run_open_loop,
    )
    Scenario(plans, payloads, settings, runs, events, name=result.key).run()


def _median_startup(colds: list[dict[str, Any]]) -> float | None:
    """Start to healthy over the repetitions so far (each started its own server)."""
    from ..repeats import spread_of

    spread = spread_of(colds, "launch_to_healthy_s")
    return None if spread is None else _round(spread.median)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
