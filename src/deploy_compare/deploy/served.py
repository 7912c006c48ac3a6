"""One served target: start the server, pin cores, closed-loop sweep, SLO search, stop.

Everything measured is appended to the ServedResult as soon as it exists, so a server
that dies mid-run still leaves the levels it finished in results.json.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ServerError, ServerUnavailable
from .affinity import CorePlan, pin_self, pin_tree, usable_cores
from .config import RunConfig, build
from .results import ServedResult


def _server_config(kind: str, config: RunConfig, plan: CorePlan):
    from ..servers import TFServingConfig, TorchServeConfig

    table = config.section(kind)
    if kind == "torchserve":
        if config.run.pin_cores and "torch_threads" not in table:
            table["torch_threads"] = len(plan.server)  # one intra-op thread per core the server owns
        return build(TorchServeConfig, table, f"[{kind}]")
    return build(TFServingConfig, table, f"[{kind}]")


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
) -> None:
    """Fill `result` in place. Raises ServerError/LoadError (-> FAILED); sets SKIPPED itself."""
    from ..clients import Endpoint, find_max_rate_under_slo, sweep_concurrency
    from ..clients.payload import payloads_from_export
    from ..manifest import load_manifest
    from ..servers import make_launcher

    server_config = _server_config(kind, config, plan)
    levels, closed_cfg, open_cfg, slo_cfg = config.load_settings()
    result.server_config = server_config.to_dict()
    try:
        launcher = make_launcher(
            kind, config.run.server_mode, manifest_dir=manifest_dir, run_dir=run_dir / "servers", config=server_config
        )
    except ServerUnavailable as exc:
        result.status, result.reason = "SKIPPED", str(exc)
        progress.line(f"{kind}: SKIPPED: {exc}")
        return
    result.mode = launcher.mode
    progress.line(f"{kind}: starting {launcher.describe()}")
    own_cores = tuple(usable_cores())
    pinning = config.run.pin_cores and launcher.mode == "native"  # a container's processes are not ours to pin
    try:
        if pinning:
            pin_self(plan.server)  # the server's processes and threads inherit this at start
        with launcher:
            assert launcher.startup_s is not None, "set by __enter__ once healthy"
            result.startup_s = round(launcher.startup_s, 3)
            result.log = str(Path(launcher.log_path).resolve().relative_to(run_dir.resolve()))
            progress.line(f"{kind}: healthy after {launcher.startup_s:.1f}s")
            if pinning and launcher.pid is not None:
                threads = pin_tree(launcher.pid, plan.server)  # again: threads made before our pin
                result.server_cores = list(plan.server)
                progress.line(f"{kind}: {threads} server threads on cores {list(plan.server)}")
            if pinning and pin_self(plan.client):
                result.client_cores = list(plan.client)
            if on_started is not None:
                on_started(kind, launcher)
            ep = launcher.endpoint
            endpoint = Endpoint(url=ep.base_url, protocol=ep.protocol, model=ep.model_name, headers=dict(ep.headers))
            manifest = load_manifest(manifest_dir)
            payloads = payloads_from_export(endpoint, manifest_dir, manifest)

            def keep(load_result) -> None:
                result.sweep.append(load_result.to_dict())
                save()
                progress.line(
                    f"{kind}: concurrency {load_result.concurrency}: {load_result.throughput_rps:.1f} req/s, "
                    f"p50 {_ms(load_result.p50_ms)}, p99 {_ms(load_result.p99_ms)}, "
                    f"errors {sum(load_result.errors.values())}"
                    + (" [client was the bottleneck]" if load_result.client_bottleneck else "")
                )
                _check_alive(launcher, kind)

            for level in levels:
                sweep_concurrency(
                    endpoint,
                    payloads,
                    closed_cfg,
                    [level],
                    on_progress=progress.load_callback(f"{kind} c={level}"),
                    on_result=keep,
                )

            def trial(t) -> None:
                progress.line(
                    f"{kind}: open loop {t.rate_rps:.1f} req/s: {'pass' if t.passed else 'fail'}"
                    + (f" ({t.reason})" if t.reason else "")
                )
                _check_alive(launcher, kind)

            slo = find_max_rate_under_slo(
                endpoint, payloads, open_cfg, slo_cfg, on_progress=progress.load_callback(f"{kind} SLO"), on_trial=trial
            )
            result.slo = slo.to_dict()
            save()
            best = slo.max_rate_rps
            progress.line(
                f"{kind}: highest rate with p99 <= {slo_cfg.p99_bound_ms:g} ms: "
                + (f"{best:.1f} req/s" if best is not None else "none")
                + (f" ({slo.note})" if slo.note else "")
            )
    finally:
        if pinning:
            pin_self(own_cores)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f} ms"
