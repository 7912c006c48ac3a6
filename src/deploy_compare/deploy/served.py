"""One served target: start the server, pin cores, closed-loop sweep, SLO search, stop.

Everything measured is appended to the ServedResult as soon as it exists, so a server
that dies mid-run still leaves the levels it finished in results.json.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..endpoint import Endpoint
from ..errors import ConfigError, LoadError, ProtocolError, ServerError, ServerUnavailable
from .affinity import CorePlan, pin_self, pin_tree, usable_cores
from .config import RunConfig, build
from .results import ServedResult

if TYPE_CHECKING:
    from ..clients.config import LoadConfig, SloConfig


def _server_config(kind: str, config: RunConfig, plan: CorePlan):
    from ..servers.registry import get

    stack = get(kind)
    table = config.section(kind)
    threads = stack.threads_field
    if threads and config.run.pin_cores and threads not in table:
        table[threads] = len(plan.server)  # one intra-op thread per core the server owns
    return build(stack.config_class, table, f"[{kind}]")


@dataclasses.dataclass(frozen=True)
class EncodingPlan:
    """One [load] encoding for one running target: the endpoint speaking it, or why not."""

    encoding: str
    endpoint: Endpoint | None
    reason: str | None

    @property
    def ready(self) -> Endpoint:
        assert self.endpoint is not None, f"{self.encoding}: {self.reason}"
        return self.endpoint

    def cell(self, status: str, reason: str | None) -> dict:
        protocol = getattr(self.endpoint, "encoding", None)
        return {"encoding": self.encoding, "status": status, "reason": reason, "protocol": protocol, "sweep": []}


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


def _check_alive(launcher, kind: str) -> None:
    """A dead server must fail its target loudly, not look like a slow one."""
    import psutil

    reason = launcher.failure_reason()  # out of memory (the guard's kill, Docker's OOM killer)
    if reason:
        raise ServerError(f"{kind}: {reason}", launcher.tail(15))
    pid = launcher.pid
    if pid is not None and not psutil.pid_exists(pid):
        raise ServerError(f"{kind}: the server process (pid {pid}) exited during the run", launcher.tail(15))


def monitored(run: Callable[..., Any], launcher: Any, on_usage: Callable[[dict[str, Any]], None] | None = None):
    """`run` (run_closed_loop's signature) with the server's view of its measured window in
    LoadResult.server: the monitor starts when the loop reports the end of the warm-up and
    ends when the run returns (in-flight requests drained), so it covers the requests the
    client's figures count."""

    def wrapped(endpoint, payloads, config, on_progress=None):
        monitor = launcher.monitor()
        began: list[threading.Timer] = []

        def progress(p) -> None:
            if monitor is not None and not began and p.phase != "warm-up":
                # Off the event loop: a metrics scrape must not delay requests. Client actors
                # (distributed.py) report only their start: the warm-up is then waited out here.
                delay = 0.0 if p.phase in ("measuring", "draining") else config.warmup_s
                began.append(threading.Timer(delay, monitor.begin))
                began[0].daemon = True
                began[0].start()
            if on_progress is not None:
                on_progress(p)

        try:
            result = run(endpoint, payloads, config, progress)
        except BaseException:  # the sampler and a pending begin must not outlive a failed run
            if began:
                began[0].cancel()
                began[0].join(timeout=30)  # a begin under way finishes first, so close() stops its thread
            if monitor is not None:
                monitor.close()
            raise
        if monitor is not None and began:
            began[0].cancel()  # not yet fired (a run cut short inside its warm-up): never begins
            began[0].join(timeout=30)
            if not monitor.begun:
                result.server = {"source": monitor.source, "error": "not sampled: the run ended within its warm-up"}
                return result
            try:
                usage = monitor.end(result.completed)
                result.server = usage.to_dict()
                if on_usage is not None:
                    on_usage(result.server)
            except Exception as exc:  # the server's view is a record; it must not fail the run
                result.server = {"source": monitor.source, "error": f"{type(exc).__name__}: {exc}"}
        return result

    return wrapped


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
    result.batches. `sweep` False (the tune stage's trials): concurrency 1 (it bounds and
    seeds the search, clients/slo.py), then the SLO searches.
    """
    from ..clients import find_max_rate_under_slo, run_closed_loop, run_open_loop, sweep_concurrency
    from ..clients.payload import payloads_from_export
    from ..clients.results import client_processes_label
    from ..manifest import load_manifest
    from ..repeats import combine_slo
    from ..servers import make_launcher
    from ..servers.docker_base import DockerLauncher
    from ..servers.factory import server_versions
    from ..servers.registry import get
    from .coldstart import measure_cold_start

    stack = get(kind)
    if stack.max_server_cores is not None:
        plan = dataclasses.replace(plan, server=plan.server[: stack.max_server_cores])
    server_config = _server_config(kind, config, plan)
    levels, closed_cfg, open_cfg, slo_cfg = config.load_settings()
    scale = scale_out(config)
    result.server_config = server_config.to_dict()
    result.load_client = scale.to_dict()
    progress.line(f"{kind}: preparing ({config.run.server_mode} mode; Docker builds its image now)")
    # Each repetition's server gets its own folder: its log never overwrites the last one's.
    servers_dir = run_dir / "servers" / (f"repetition-{repetition}" if repetition > 1 else "")
    again = f" (repetition {repetition}/{result.repeat})" if result.repeat > 1 else ""
    try:
        launcher = make_launcher(
            kind, config.run.server_mode, manifest_dir=manifest_dir, run_dir=servers_dir, config=server_config
        )
    except ServerUnavailable as exc:
        result.status, result.reason = "SKIPPED", str(exc)
        progress.line(f"{kind}: SKIPPED: {exc}")
        return
    result.mode = launcher.mode
    container = launcher if isinstance(launcher, DockerLauncher) else None
    if container is not None:  # make_launcher built the image, timed apart from start-to-healthy
        result.image = container.image_tag
        if repetition == 1 or result.image_build_s is None:  # later repetitions find the image: ~0
            result.image_build_s = _round(container.build_s)
        progress.line(f"{kind}: image {container.image_tag} ready ({container.build_s or 0:.1f}s to build or find)")
    if launcher.mode_note:  # auto mode fell back (e.g. the image could not be built): the row says so
        result.reason = launcher.mode_note
        progress.line(f"{kind}: {launcher.mode_note}")
    # Known before the start: a stack that fails to start still points to its log.
    result.log = str(Path(launcher.log_path).resolve().relative_to(run_dir.resolve()))
    own_cores = tuple(usable_cores())
    pinning = config.run.pin_cores and launcher.mode == "native"
    launcher.memory_limit_mib = config.run.server_memory_limit_mib or None
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
        progress.line(f"{kind}: starting {launcher.describe()}{again}")
        if pinning:
            pin_self(plan.server)  # the server's processes and threads inherit this at start
        with launcher:
            if result.startup_s is None:  # the median over the repetitions replaces it after the cold start
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
            manifest = load_manifest(manifest_dir)
            plans = encoding_plans(stack, launcher.endpoint, config.encodings(), launcher.mode)
            ready = [p for p in plans if p.reason is None]
            for plan_ in plans:
                if plan_.reason is not None and repetition == 1:  # later repetitions: the same reason
                    result.encodings.append(plan_.cell("SKIPPED", plan_.reason))
                    progress.line(f"{kind}: {plan_.encoding}: SKIPPED: {plan_.reason}")
            if not ready:
                raise ConfigError(f"{kind} speaks none of [load] encodings {list(config.encodings())}")
            endpoint, result.encoding = ready[0].ready, ready[0].encoding
            batch_sizes = config.batch_sizes()
            payloads = payloads_from_export(
                endpoint, manifest_dir, manifest, artifact=stack.artifact, batch_size=batch_sizes[0]
            )
            tag = "" if len(config.encodings()) == 1 else f" [{result.encoding}]"
            healthy_at = launcher.healthy_at if launcher.healthy_at is not None else time.monotonic()
            cold = measure_cold_start(payloads, launcher.startup_s, healthy_at, closed_cfg.timeout_s)
            cold.image_build_s = result.image_build_s
            result.cold_start_repeats.append({**cold.to_dict(), "repetition": repetition})
            if result.cold_start is None or repetition == 1:
                result.cold_start = cold.to_dict()
            result.startup_s = _median_startup(result.cold_start_repeats)
            progress.line(
                f"{kind}: first inference {_s(cold.launch_to_first_inference_s)} after launch; first requests "
                + ", ".join(f"{ms:.1f}" for ms in cold.first_requests_ms)
                + " ms"
                + (f" ({cold.note})" if cold.note else "")
            )

            def peak(usage: dict[str, Any]) -> None:
                rss = usage.get("peak_rss_mib")
                if rss is not None:
                    result.peak_rss_mib = max(result.peak_rss_mib or 0.0, rss)

            single: dict[str, Any] = {}  # the concurrency-1 run: it bounds and seeds the SLO search

            def keep(load_result, into: list | None = None) -> None:
                if into is None and load_result.concurrency == 1:
                    single["result"] = load_result
                (result.sweep if into is None else into).append({**load_result.to_dict(), "repetition": repetition})
                save()
                progress.line(
                    f"{kind}{tag if into is None else ' [' + load_result.encoding + ']'}: "
                    f"concurrency {load_result.concurrency}: {load_result.throughput_rps:.1f} req/s, "
                    f"p50 {_ms(load_result.p50_ms)}, p99 {_ms(load_result.p99_ms)}, "
                    f"errors {sum(load_result.errors.values())}"
                    + _server_line(load_result.server)
                    + (" [client was the bottleneck]" if load_result.client_bottleneck else "")
                    + (f" [{client_processes_label(load_result.to_dict())}]" if load_result.client_actors else "")
                )
                _check_alive(launcher, kind)

            # The tune stage's settings run concurrency 1 alone: it bounds and seeds their searches.
            for level in levels if sweep else [1]:
                sweep_concurrency(
                    endpoint,
                    payloads,
                    closed_cfg,
                    [level],
                    on_progress=progress.load_callback(f"{kind} c={level}"),
                    on_result=keep,
                    run=monitored(pool.run_closed if pool is not None else run_closed_loop, launcher, peak),
                )

            def trial(t) -> None:
                progress.line(
                    f"{kind}: open loop {t.rate_rps:.1f} req/s{' (confirming)' if t.confirm else ''}: "
                    f"{'pass' if t.passed else 'fail'}" + (f" ({t.reason})" if t.reason else "")
                )
                _check_alive(launcher, kind)

            slo = find_max_rate_under_slo(
                endpoint,
                payloads,
                open_cfg,
                slo_cfg,
                on_progress=progress.load_callback(f"{kind} SLO"),
                on_trial=trial,
                run=monitored(pool.run_open if pool is not None else run_open_loop, launcher, peak),
                single=single.get("result"),
            )
            this = slo.to_dict()
            trials = [{**t, "repetition": repetition} for t in this.pop("trials")]
            result.slo_repeats.append({**this, "repetition": repetition})
            result.slo = combine_slo(result.slo_repeats, list(get_trials(result.slo)) + trials)
            save()
            best, fail = slo.max_rate_rps, slo.lowest_failing_rate_rps
            confirmed = {True: ", confirmed", False: ", NOT confirmed", None: ""}[slo.confirmed]
            progress.line(
                f"{kind}{tag}: highest rate with p99 <= {slo_cfg.p99_bound_ms:g} ms{again}: "
                + (f"{best:.1f} req/s" if best is not None else "none")
                + (f" [pass {best:g}, fail {fail:g})" if best is not None and fail is not None else "")
                + confirmed
                + (f" ({slo.note})" if slo.note else "")
            )
            for batch_size in batch_sizes[1:]:
                _measure_batch(
                    result.batches,
                    batch_size,
                    f"{kind}{tag} b={batch_size}",
                    functools.partial(
                        payloads_from_export,
                        endpoint,
                        manifest_dir,
                        manifest,
                        artifact=stack.artifact,
                        batch_size=batch_size,
                    ),
                    repetition=repetition,
                    levels=config.batch_levels() if sweep else [],
                    sweep=lambda p, cfg, lvl, on_progress, on_result: sweep_concurrency(
                        endpoint,
                        p,
                        cfg,
                        [lvl],
                        on_progress=on_progress,
                        on_result=on_result,
                        run=monitored(pool.run_closed if pool is not None else run_closed_loop, launcher, peak),
                    ),
                    search=lambda p, start, on_progress, on_trial, one: find_max_rate_under_slo(
                        endpoint,
                        p,
                        open_cfg,
                        dataclasses.replace(slo_cfg, start_rate_rps=start),
                        on_progress=on_progress,
                        on_trial=on_trial,
                        run=monitored(pool.run_open if pool is not None else run_open_loop, launcher, peak),
                        single=one,
                    ),
                    closed_cfg=closed_cfg,
                    start=functools.partial(
                        batch_start_rate, slo_cfg, open_cfg, batch_size, batch_sizes[0], slo.max_rate_rps
                    ),
                    check=lambda: _check_alive(launcher, kind),
                    save=save,
                    progress=progress,
                )
            for other in ready[1:] if sweep else []:  # each other encoding: the same sweep, same server
                cell = other.cell("OK", None)
                earlier = [c for c in result.encodings if c.get("encoding") == other.encoding]
                if earlier:  # a later repetition adds its points to the encoding's one cell
                    cell = earlier[0]
                else:
                    result.encodings.append(cell)
                try:
                    other_payloads = payloads_from_export(  # the first encoding's batch size: comparable
                        other.ready, manifest_dir, manifest, artifact=stack.artifact, batch_size=batch_sizes[0]
                    )
                    for level in levels:
                        sweep_concurrency(
                            other.ready,
                            other_payloads,
                            closed_cfg,
                            [level],
                            on_progress=progress.load_callback(f"{kind} {other.encoding} c={level}"),
                            on_result=functools.partial(keep, into=cell["sweep"]),
                            run=monitored(pool.run_closed if pool is not None else run_closed_loop, launcher, peak),
                        )
                except (LoadError, ProtocolError) as exc:  # this encoding failed; the others stand
                    cell["status"], cell["reason"] = "FAILED", str(exc)
                    progress.line(f"{kind}: {other.encoding}: FAILED: {exc}")
                save()
    except BaseException:
        launcher.stop()  # a failed image build happens outside `with`
        raise
    finally:
        if config.run.pin_cores:
            pin_self(own_cores)
        if pool is not None:
            pool.close()  # actors killed, Ray shut down (a local Ray's processes with it)


def get_trials(slo: dict | None) -> list[dict]:
    """The trials already recorded (earlier repetitions), each with its repetition."""
    trials = (slo or {}).get("trials")
    return trials if isinstance(trials, list) else []


def _server_line(server: dict[str, Any] | None) -> str:
    """'; server 0.52 ms CPU/request, 180 MiB peak, queue 0.1 / compute 0.3 ms' for the progress line."""
    if not server or "cpu_s" not in server:
        return ""
    text = f"; server {_ms(server.get('cpu_ms_per_request'))} CPU/request"
    if server.get("peak_rss_mib") is not None:
        text += f", {server['peak_rss_mib']:.0f} MiB peak"
    split = server.get("split")
    if split:
        text += f", queue {_ms(split.get('queue_ms'))} / compute {_ms(split.get('compute_ms'))}"
    return text


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def batch_start_rate(
    slo: SloConfig,
    trial: LoadConfig,
    batch_size: int,
    first_batch: int,
    first_rate_rps: float | None,
    closed_loop_rps: float | None,
) -> tuple[float, str]:
    """Where the SLO search at `batch_size` samples per request starts (req/s), from what this
    launch measured already, and a few words saying from what.

    [slo] start_rate_rps suits the first batch size. A request of 32 samples costs the server
    about 32 single samples (server batching makes it cheaper, a whole batch inside the p99
    bound dearer), so starting there would spend the bracket's first trials far above the
    sustainable rate, each one costing duration_s, or min_requests / rate at low rates. So:
    1. the first batch size's SLO rate (this launch's search; `slo`'s start_rate_rps when it
       found none) x first_batch / batch_size: the samples/s it sustained, in requests;
    2. at most this size's best closed-loop req/s where [load] batch_concurrency measured it
       (an open loop does not sustain more than the closed loop served);
    3. at least the lowest rate whose trial can issue min_requests before max_duration_s
       (clients.slo.search_floor: a trial below it judges nothing) and min_rate_rps;
       at most max_rate_rps.
    From there the search brackets (doubling or halving), bisects and confirms as it always does.
    """
    from ..clients.slo import search_floor

    scale = first_batch / batch_size
    if first_rate_rps is not None and first_rate_rps > 0:
        rate, origin = first_rate_rps * scale, f"batch {first_batch}'s SLO rate {first_rate_rps:g} req/s"
    else:
        rate = slo.start_rate_rps * scale
        origin = f"batch {first_batch} met no rate: [slo] start_rate_rps {slo.start_rate_rps:g}"
    origin += f" x {first_batch}/{batch_size}"
    if closed_loop_rps is not None and 0 < closed_loop_rps < rate:
        rate, origin = (
            closed_loop_rps,
            f"{origin}, capped at batch {batch_size}'s closed-loop {closed_loop_rps:.3g} req/s",
        )
    floor, why = search_floor(trial, slo)
    if rate < floor:
        rate, origin = floor, f"{origin}, raised to {floor:.3g} req/s ({why})"
    rate = min(max(round(rate, 2), floor), slo.max_rate_rps)
    return rate, origin


def _measure_batch(
    batches: list[dict[str, Any]],
    batch_size: int,
    tag: str,
    make_payloads: Callable[[], Any],
    *,
    repetition: int,
    levels: list[int],
    sweep: Callable[..., Any],
    search: Callable[..., Any],
    closed_cfg: Any,
    start: Callable[[float | None], tuple[float, str]],
    check: Callable[[], None],
    save: Callable[[], None],
    progress: Any,
) -> None:
    """One further request batch size: its closed-loop levels, then its SLO search, appended
    to result.batches as {"batch_size", "repetition", "sweep", "slo", "slo_start_rate_rps",
    "slo_start_from"} as soon as each exists. The search starts at half this size's
    concurrency-1 throughput where that level ran ([slo] start_from_single, clients/slo.py),
    else at the rate `start` gives (batch_start_rate, with this size's best closed-loop req/s).
    A batch size the server refuses (e.g. a body over its size limit) is FAILED on its own
    entry ("status", "reason"): the other batch sizes and encodings still run."""
    entry: dict[str, Any] = {
        "batch_size": batch_size,
        "repetition": repetition,
        "sweep": [],
        "slo": None,
        "status": "OK",
        "reason": None,
    }
    batches.append(entry)
    single: dict[str, Any] = {}

    def keep(r) -> None:
        if r.concurrency == 1:
            single["result"] = r
        entry["sweep"].append(r.to_dict())
        save()
        progress.line(
            f"{tag}: concurrency {r.concurrency}: {r.throughput_rps:.1f} req/s "
            f"({r.throughput_samples_per_s or 0.0:.1f} samples/s), p50 {_ms(r.p50_ms)}, p99 {_ms(r.p99_ms)}, "
            f"errors {sum(r.errors.values())}" + (" [client was the bottleneck]" if r.client_bottleneck else "")
        )
        check()

    def trial(t) -> None:
        progress.line(
            f"{tag}: open loop {t.rate_rps:.1f} req/s: {'pass' if t.passed else 'fail'}"
            + (f" ({t.reason})" if t.reason else "")
        )
        check()

    try:
        payloads = make_payloads()
        for level in levels:
            sweep(payloads, closed_cfg, level, progress.load_callback(f"{tag} c={level}"), keep)
        closed_rps = [r for r in (p.get("throughput_rps") for p in entry["sweep"]) if isinstance(r, (int, float))]
        rate, origin = start(max(closed_rps) if closed_rps else None)
        if single.get("result") is None:
            progress.line(f"{tag}: SLO search from {rate:g} req/s ({origin})")
        slo = search(payloads, rate, progress.load_callback(f"{tag} SLO"), trial, single.get("result"))
    except (LoadError, ProtocolError) as exc:
        check()  # a dead server fails the whole target, as everywhere else
        entry["status"], entry["reason"] = "FAILED", str(exc)
        save()
        progress.line(f"{tag}: FAILED: {exc}")
        return
    first = slo.trials[0].rate_rps if slo.trials else None
    if first is not None and first != rate:  # the concurrency-1 run set the start (clients/slo.py)
        origin = f"half of batch {batch_size}'s concurrency-1 throughput ([slo] start_from_single)"
    entry["slo_start_rate_rps"], entry["slo_start_from"] = first, origin if first is not None else slo.note
    entry["slo"] = slo.to_dict()
    save()
    best = slo.max_rate_rps
    progress.line(
        f"{tag}: highest rate with p99 <= {slo.p99_bound_ms:g} ms: "
        + (f"{best:.1f} req/s = {best * batch_size:.1f} samples/s" if best is not None else "none")
        + (f" ({slo.note})" if slo.note else "")
    )


def _median_startup(colds: list[dict[str, Any]]) -> float | None:
    """Start to healthy over the repetitions so far (each started its own server)."""
    from ..repeats import spread_of

    spread = spread_of(colds, "launch_to_healthy_s")
    return None if spread is None else _round(spread.median)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f} ms"
