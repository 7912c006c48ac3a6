"""One served target: start the server, pin cores, closed-loop sweep, SLO search, stop.

Everything measured is appended to the ServedResult as soon as it exists, so a server
that dies mid-run still leaves the levels it finished in results.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError, ServerError, ServerUnavailable
from .affinity import CorePlan, pin_self, pin_tree, usable_cores
from .config import RunConfig, build
from .results import ServedResult


def _server_config(kind: str, config: RunConfig, plan: CorePlan):
    from ..servers.registry import get

    stack = get(kind)
    table = config.section(kind)
    threads = stack.threads_field
    if threads and config.run.pin_cores and threads not in table:
        table[threads] = len(plan.server)  # one intra-op thread per core the server owns
    return build(stack.config_class, table, f"[{kind}]")


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


def _check_alive(launcher, kind: str) -> None:
    """A dead server must fail its target loudly, not look like a slow one."""
    import psutil

    pid = launcher.pid
    if pid is not None and not psutil.pid_exists(pid):
        raise ServerError(f"{kind}: the server process (pid {pid}) exited during the run", launcher.tail(15))


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
    *,
    sweep: bool = True,
) -> None:
    """Fill `result` in place. Raises ServerError/LoadError (-> FAILED); sets SKIPPED itself.

    For each request batch size of [load] batch_sizes: the closed-loop sweep (unless
    `sweep` is False: the tune stage's trials run the SLO search alone), then the SLO search.
    """
    from ..clients import find_max_rate_under_slo, sweep_concurrency
    from ..clients.payload import payloads_from_export
    from ..clients.results import client_processes_label
    from ..manifest import load_manifest
    from ..servers import make_launcher
    from ..servers.docker_base import DockerLauncher
    from ..servers.factory import server_versions
    from ..servers.registry import get

    stack = get(kind)
    if stack.max_server_cores is not None:
        plan = dataclasses.replace(plan, server=plan.server[: stack.max_server_cores])
    server_config = _server_config(kind, config, plan)
    levels, closed_cfg, open_cfg, slo_cfg = config.load_settings()
    scale = scale_out(config)
    result.server_config = server_config.to_dict()
    result.load_client = scale.to_dict()
    try:
        launcher = make_launcher(
            kind, config.run.server_mode, manifest_dir=manifest_dir, run_dir=run_dir / "servers", config=server_config
        )
    except ServerUnavailable as exc:
        result.status, result.reason = "SKIPPED", str(exc)
        progress.line(f"{kind}: SKIPPED: {exc}")
        return
    result.mode = launcher.mode
    if launcher.mode_note:  # auto mode fell back (e.g. the image could not be built): the row says so
        result.reason = launcher.mode_note
        progress.line(f"{kind}: {launcher.mode_note}")
    # Known before the start: a stack that fails to start still points to its log.
    result.log = str(Path(launcher.log_path).resolve().relative_to(run_dir.resolve()))
    own_cores = tuple(usable_cores())
    pinning = config.run.pin_cores and launcher.mode == "native"
    container = launcher if isinstance(launcher, DockerLauncher) else None
    if container is not None and config.run.pin_cores:
        container.cpuset = tuple(plan.server)  # the engine's cpuset; the client pins itself below
    pool = None
    try:
        if scale.distributed:
            from ..clients.distributed import ClientPool

            # Started before the server (a cluster that cannot place the actors fails the target
            # before any server runs) and before the pin below (Ray's own processes are not the server's).
            progress.line(f"{kind}: starting {scale.processes} client actors on {scale.address or 'a local Ray'}")
            pool = ClientPool(scale).__enter__()
        if container is not None:  # the build apart from start-to-healthy, timed on its own
            progress.line(f"{kind}: building the image")
            try:
                container.prepare()
            finally:
                result.image, result.image_build_s = container.image_tag, _round(container.build_s)
        progress.line(f"{kind}: starting {launcher.describe()}")
        if pinning:
            pin_self(plan.server)  # the server's processes and threads inherit this at start
        with launcher:
            result.startup_s = _round(launcher.startup_s)
            result.versions = server_versions(launcher)
            result.log = str(Path(launcher.log_path).resolve().relative_to(run_dir.resolve()))
            progress.line(f"{kind}: healthy after {launcher.startup_s:.1f}s")
            if pinning and launcher.pid is not None:
                threads = pin_tree(launcher.pid, plan.server)  # again: threads made before our pin
                result.server_cores = list(plan.server)
                progress.line(f"{kind}: {threads} server threads on cores {list(plan.server)}")
            if container is not None and container.cpuset:
                result.server_cores = list(container.cpuset)
            if config.run.pin_cores and pin_self(plan.client):
                result.client_cores = list(plan.client)
            if on_started is not None:
                on_started(kind, launcher)
            endpoint = launcher.endpoint
            manifest = load_manifest(manifest_dir)
            for number, batch_size in enumerate(config.batch_sizes()):
                # The first batch size fills result.sweep / result.slo (the headline rows);
                # each further one gets its own entry in result.batches.
                if number == 0:
                    sweep_sink, slo_sink = result.sweep, None
                else:
                    entry: dict = {"batch_size": batch_size, "sweep": [], "slo": None}
                    result.batches.append(entry)
                    sweep_sink, slo_sink = entry["sweep"], entry
                payloads = payloads_from_export(
                    endpoint, manifest_dir, manifest, artifact=stack.artifact, batch_size=batch_size
                )
                tag = f"{kind}" + (f" b={batch_size}" if batch_size != 1 else "")

                def keep(load_result, sink=sweep_sink, tag=tag) -> None:
                    sink.append(load_result.to_dict())
                    save()
                    progress.line(
                        f"{tag}: concurrency {load_result.concurrency}: {load_result.throughput_rps:.1f} req/s"
                        + (
                            f" ({load_result.throughput_samples_per_s:.1f} samples/s)"
                            if load_result.batch_size != 1
                            else ""
                        )
                        + f", p50 {_ms(load_result.p50_ms)}, p99 {_ms(load_result.p99_ms)}, "
                        f"errors {sum(load_result.errors.values())}"
                        + (" [client was the bottleneck]" if load_result.client_bottleneck else "")
                        + (f" [{client_processes_label(load_result.to_dict())}]" if load_result.client_actors else "")
                    )
                    _check_alive(launcher, kind)

                for level in (levels if number == 0 else config.batch_levels()) if sweep else []:
                    sweep_concurrency(
                        endpoint,
                        payloads,
                        closed_cfg,
                        [level],
                        on_progress=progress.load_callback(f"{tag} c={level}"),
                        on_result=keep,
                        run=pool.run_closed if pool is not None else None,
                    )

                def trial(t, tag=tag) -> None:
                    progress.line(
                        f"{tag}: open loop {t.rate_rps:.1f} req/s: {'pass' if t.passed else 'fail'}"
                        + (f" ({t.reason})" if t.reason else "")
                    )
                    _check_alive(launcher, kind)

                slo = find_max_rate_under_slo(
                    endpoint,
                    payloads,
                    open_cfg,
                    slo_cfg,
                    on_progress=progress.load_callback(f"{tag} SLO"),
                    on_trial=trial,
                    run=pool.run_open if pool is not None else None,
                )
                if slo_sink is None:
                    result.slo = slo.to_dict()
                else:
                    slo_sink["slo"] = slo.to_dict()
                save()
                best = slo.max_rate_rps
                progress.line(
                    f"{tag}: highest rate with p99 <= {slo_cfg.p99_bound_ms:g} ms: "
                    + (
                        f"{best:.1f} req/s" + (f" = {best * batch_size:.1f} samples/s" if batch_size != 1 else "")
                        if best is not None
                        else "none"
                    )
                    + (f" ({slo.note})" if slo.note else "")
                )
    except BaseException:
        launcher.stop()  # a failed image build happens outside `with`
        raise
    finally:
        if config.run.pin_cores:
            pin_self(own_cores)
        if pool is not None:
            pool.close()  # actors killed, Ray shut down (a local Ray's processes with it)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f} ms"
