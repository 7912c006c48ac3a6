"""The load client spread over several processes or machines, as actors on a Ray cluster.

    with ClientPool(ScaleOut(processes=4, address="10.0.0.5:6379")) as pool:
        result = pool.run_closed(endpoint, payloads, LoadConfig(concurrency=64))   # one LoadResult
        result = pool.run_open(endpoint, payloads, LoadConfig(rate_rps=20000))
        sweep_concurrency(..., run=pool.run_closed); find_max_rate_under_slo(..., run=pool.run_open)

Why Ray: MLOps teams already run it (Ray Serve, Train, Tune), it places processes on the
machines of an existing cluster, reports an actor's death as an exception naming the cause,
and tears its actors down; the load itself stays this package's loop. (Locust's distributed
mode would replace the loop, its timing and its statistics; Dask has no per-worker
long-running actor with a placement hint as simple as Ray's SPREAD.)

How a run is split (one load = N shares, each run by one actor with the EXISTING loop,
preflight, self-check and correctness sampling of runner.py / analyze.py):
- closed loop: the concurrency is split as evenly as possible (c=10 on 4 actors: 3,3,2,2);
  with fewer workers than actors, only `concurrency` actors take part;
- open loop: the rate is split into N independent arrival streams of rate/N, each with its own
  seed (numpy SeedSequence children of LoadConfig.seed): independent Poisson streams superpose
  into a Poisson stream of the total rate; max_in_flight and min_requests are split likewise.
Every actor pins itself to its own core of its machine where there are enough cores (else it
shares, and says so), waits for a common wall-clock start, runs, analyses its own records, and
returns its LoadResult plus every raw latency and send lag (analyze.MeasuredSamples).

Merging is EXACT: percentiles come from the concatenated raw latencies of all actors (not
from averaged percentiles, not from histograms: at the sizes a load client sees - a million
requests is 8 MB of int64 - exact is cheap, and it keeps one percentile definition, statistics.py,
for every result). Counts, errors and correctness are summed; throughput is the sum of the
actors' rates (their windows start at the same wall-clock time); client CPU is the busiest
actor's. The merged result is flagged client_bottleneck when ANY actor was, naming it.
An actor that dies mid-run loses only its share: the result lists it in lost_shares with the
reason, and min_requests_met is False (the offered load was lower than asked).

Ray is optional: importing this module does not import ray; ClientPool raises ConfigError
with the install command when it is missing.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import ConfigError, LoadError
from ..statistics import including_failures_interval_ms, latency_summary, percentile_including_failures_ms, send_lag
from .analyze import MeasuredSamples
from .config import Endpoint, LoadConfig
from .payload import Payloads
from .results import LoadResult

RAY_PIN = "ray==2.60.0"
INSTALL_HINT = f"pip install {RAY_PIN} (or `pip install --no-deps -r requirements.lock`, which pins it and msgpack)"
# A local cluster (no address) listens on 127.0.0.1 only: Ray's own switch for "no multi-node"
# makes every component bind loopback instead of the machine's outward address.
_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
PROBE_TIMEOUT_S = 3.0
START_DELAY_S = 1.0  # between "all actors ready" and the common start: covers sending the call


@dataclass(frozen=True)
class ScaleOut:
    """Where the load client runs: `processes` actors, on a local Ray instance started for the
    run (address None) or on the Ray cluster at `address` (host:port of its GCS, or ray://...)."""

    processes: int = 1
    address: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.processes, int) or self.processes < 1:
            raise ConfigError(f"client_processes must be an integer >= 1, got {self.processes!r}")
        if self.address is not None and not str(self.address).strip():
            raise ConfigError("ray_address must be a host:port (or ray://host:port), or left out")

    @property
    def distributed(self) -> bool:
        return self.processes > 1 or self.address is not None

    def to_dict(self) -> dict[str, Any]:
        return {"client_processes": self.processes, "ray_address": self.address}


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"several client processes (--client-processes / --ray-address) need Ray, which is not "
            f"installed here ({exc}): {INSTALL_HINT}"
        ) from None
    return ray


def probe_address(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast (seconds, not ray.init's minute of retries) when nothing listens at `address`."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"ray_address {address!r}: expected host:port or ray://host:port")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(
            f"Ray cluster at {address} is unreachable ({type(exc).__name__}: {exc}); "
            "start one (`ray start --head`) or fix ray_address / --ray-address"
        ) from None


def check_scale_out(scale: ScaleOut) -> None:
    """Everything that can be checked before any server starts: Ray importable, address up."""
    if not scale.distributed:
        return
    import_ray()
    if scale.address is not None:
        probe_address(scale.address)


# -- splitting one load into shares ------------------------------------------------------


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` as `parts` integers differing by at most one, largest first (zeros dropped)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts) if base + (1 if i < extra else 0) > 0]


def stream_seeds(seed: int, parts: int) -> list[int]:
    """Independent seeds for `parts` arrival streams, reproducible from one seed."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(parts)]


def share_configs(config: LoadConfig, mode: str, parts: int) -> list[LoadConfig]:
    """One LoadConfig per actor; together they make the load `config` asks for."""
    if mode == "closed":
        levels = split_evenly(config.concurrency, parts)
        n = len(levels)
        return [replace(config, concurrency=c, min_requests=max(1, math.ceil(config.min_requests / n))) for c in levels]
    if config.rate_rps is None:
        raise ConfigError("LoadConfig.rate_rps is required for an open-loop run")
    return [
        replace(
            config,
            rate_rps=config.rate_rps / parts,
            seed=seed,
            max_in_flight=max(1, math.ceil(config.max_in_flight / parts)),
            min_requests=max(1, math.ceil(config.min_requests / parts)),
        )
        for seed in stream_seeds(config.seed, parts)
    ]


# -- the actor (runs in a Ray worker process) ----------------------------------------------


class LoadActor:
    """One client process. Wrapped with ray.remote at run time (this module never imports ray
    at import time); holds no state between runs except where it runs."""

    def where(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {
            "node_id": ctx.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
        }

    def run(
        self,
        mode: str,
        endpoint: Endpoint,
        payloads: Payloads,
        config: LoadConfig,
        rank: int,
        cores: list[int] | None,
        start_at: float,
    ) -> tuple[dict[str, Any], MeasuredSamples, dict[str, Any]]:
        from ..machine import usable_cores
        from ..pinning import pin_self
        from .analyze import analyze_with_samples
        from .closed_loop import closed_loop
        from .open_loop import open_loop
        from .runner import run_raw

        allowed = sorted(cores) if cores else usable_cores()
        core = allowed[rank % len(allowed)]
        pinned = pin_self((core,))
        placement = {"core": core if pinned else None, "own_core": pinned and rank < len(allowed)}
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        raw = run_raw(closed_loop if mode == "closed" else open_loop, endpoint, payloads, config, None)
        result, samples = analyze_with_samples(raw, endpoint, payloads, config, mode)
        return result.to_dict(), samples, placement


# -- merging -------------------------------------------------------------------------------


@dataclass
class Share:
    """What one actor returned (or why it returned nothing)."""

    index: int
    where: dict[str, Any]
    config: LoadConfig
    result: LoadResult | None = None
    samples: MeasuredSamples | None = None
    placement: dict[str, Any] | None = None
    lost_reason: str | None = None

    def describe(self, mode: str) -> dict[str, Any]:
        share = {"concurrency": self.config.concurrency} if mode == "closed" else {"rate_rps": self.config.rate_rps}
        d: dict[str, Any] = {
            "actor": self.index,
            "node_ip": self.where.get("node_ip"),
            "hostname": self.where.get("hostname"),
            "node_id": self.where.get("node_id"),
            "pid": self.where.get("pid"),
            **share,
        }
        if mode == "open":
            d["seed"] = self.config.seed
        if self.result is not None:
            r = self.result
            d.update(
                core=(self.placement or {}).get("core"),
                own_core=(self.placement or {}).get("own_core"),
                requests=r.requests,
                completed=r.completed,
                throughput_rps=r.throughput_rps,
                p50_ms=r.p50_ms,
                p99_ms=r.p99_ms,
                client_cpu_share=r.client_cpu_share,
                client_cpu_wait_share=r.client_cpu_wait_share,
                late_share=r.late_share,
                client_bottleneck=r.client_bottleneck,
                bottleneck_reasons=r.bottleneck_reasons,
            )
        else:
            d["reason"] = self.lost_reason
        return d


def _label(share: Share) -> str:
    return f"actor {share.index} ({share.where.get('hostname') or share.where.get('node_ip')})"


def _merged_verdict(results: list[LoadResult], config: LoadConfig) -> dict[str, Any]:
    """An SLO trial over several arrival streams: each stream was decided by its own rule
    (a process stops when ITS stream is decided), so the trial passes only when every
    stream passed, and fails when any failed; a lost share leaves it undecided."""
    if not config.sequential:
        return {}
    verdicts = [r.slo_verdict for r in results]
    verdict = False if False in verdicts else (True if all(v is True for v in verdicts) else None)
    return {
        "slo_verdict": verdict,
        "slo_decided_after": sum(r.slo_decided_after or 0 for r in results),
        "slo_over_bound": sum(r.slo_over_bound or 0 for r in results),
        "slo_confidence": config.slo_confidence,
    }


def merge(shares: list[Share], config: LoadConfig, mode: str) -> LoadResult:
    """One LoadResult of the load `config` from the actors' shares, percentiles exact."""
    done = [s for s in shares if s.result is not None and s.samples is not None]
    lost = [s for s in shares if s.result is None]
    if not done:
        why = "; ".join(f"{_label(s)}: {s.lost_reason}" for s in lost)
        raise LoadError(f"every client actor was lost: {why}")
    results = [s.result for s in done if s.result is not None]
    samples = [s.samples for s in done if s.samples is not None]
    first = results[0]
    latencies = np.concatenate([np.asarray(s.latencies_ns, dtype=np.int64) for s in samples])
    lags = np.concatenate([np.asarray(s.send_lag_ns, dtype=np.int64) for s in samples])
    failed = sum(s.failed for s in samples)
    errors = {k: sum(r.errors.get(k, 0) for r in results) for k in first.errors}
    examples: dict[str, str] = {}
    for r in results:
        for kind, text in r.error_examples.items():
            examples.setdefault(kind, text)
    checked = sum(r.correctness_checked for r in results)
    agreed = sum(r.correctness_agreed for r in results)
    lag = send_lag(np.zeros_like(lags), lags, config.late_threshold_ms * 1e6) if mode == "open" else None
    reasons = [f"{_label(s)}: {reason}" for s in done if s.result is not None for reason in s.result.bottleneck_reasons]

    summary: dict[str, Any] = latency_summary(latencies).figures_ms()

    def most(name: str) -> float | None:
        values = [getattr(r, name) for r in results if getattr(r, name) is not None]
        return max(values) if values else None

    return LoadResult(
        mode=mode,
        protocol=first.protocol,
        url=first.url,
        model=first.model,
        concurrency=config.concurrency if mode == "closed" else None,
        target_rate_rps=config.rate_rps if mode == "open" else None,
        arrival=config.arrival if mode == "open" else None,
        max_in_flight=config.max_in_flight if mode == "open" else None,
        seed=config.seed if mode == "open" else None,
        warmup_s=config.warmup_s,
        window_s=max(r.window_s for r in results),
        requests=sum(r.requests for r in results),
        completed=sum(r.completed for r in results),
        throughput_rps=sum(r.throughput_rps for r in results),
        batch_size=first.batch_size,
        throughput_samples_per_s=sum(r.throughput_rps for r in results) * first.batch_size,
        **summary,
        p99_incl_failures_ms=percentile_including_failures_ms(latencies, failed, 99.0),
        p99_incl_failures_ci_ms=including_failures_interval_ms(latencies, failed, 99.0),
        goodput_rps=None if config.slo_bound_ms is None else sum(r.goodput_rps or 0.0 for r in results),
        stop_reason=", ".join(sorted({r.stop_reason for r in results if r.stop_reason})),
        **_merged_verdict(results, config),
        errors=errors,
        dropped=sum(r.dropped for r in results),
        error_examples=examples,
        correctness_checked=checked,
        correctness_agreed=agreed,
        top1_agreement=(agreed / checked) if checked else None,
        client_cpu_share=most("client_cpu_share"),
        client_cpu_wait_share=most("client_cpu_wait_share"),
        late_share=lag.late_share if lag else None,
        late_threshold_ms=config.late_threshold_ms,
        max_send_lag_ms=lag.max_ms if lag else None,
        send_lag_p50_ms=lag.p50_ms if lag else None,
        send_lag_p99_ms=lag.p99_ms if lag else None,
        client_bottleneck=bool(reasons),
        bottleneck_reasons=reasons,
        min_requests_met=not lost and all(r.min_requests_met for r in results),
        body_bytes=first.body_bytes,
        encoding=first.encoding,
        request_bytes=first.request_bytes,
        response_bytes=first.response_bytes,
        status_counts={k: sum(r.status_counts.get(k, 0) for r in results) for r in results for k in r.status_counts},
        client_processes=len(shares),
        client_actors=[s.describe(mode) for s in shares],
        lost_shares=[s.describe(mode) for s in lost],
        client_info={**first.client_info, "distributed": f"ray {_ray_version()}"},
        config=config.to_dict(),
    )


def _ray_version() -> str:
    try:
        import ray

        return str(ray.__version__)
    except ImportError:  # merge() of shares made elsewhere (tests): not this process's business
        return "not installed"


# -- the pool ------------------------------------------------------------------------------


def _check_reachable(endpoint: Endpoint, where: list[dict[str, Any]], driver_node: str) -> None:
    """An actor on another machine cannot reach a server bound to this machine's loopback
    (every stack `run` starts binds 127.0.0.1): say so before any load is sent, instead of
    every share failing to connect to its own machine's loopback."""
    from urllib.parse import urlsplit

    host = urlsplit(endpoint.url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        return
    remote = [
        w
        for w in where
        if w.get("node_id") not in (None, driver_node) and not str(w.get("node_ip", "")).startswith("127.")
    ]
    if remote:
        nodes = ", ".join(sorted({str(w.get("node_ip")) for w in remote}))
        raise ConfigError(
            f"the endpoint {endpoint.url} is this machine's loopback, but client actors run on other machines "
            f"({nodes}); serve on an address they can reach and pass it with --url"
        )


class ClientPool:
    """Ray connected (or a local Ray started), N actors placed, reused run after run; on exit
    every actor is killed and Ray shut down (a local Ray's processes with it)."""

    def __init__(self, scale: ScaleOut, payload_bytes_hint: int = 0) -> None:
        self.scale = scale
        self._payload_bytes_hint = payload_bytes_hint
        self._ray: Any = None
        self._actor_cls: Any = None
        self._actors: list[Any | None] = []
        self._where: list[dict[str, Any]] = []
        self._payload_refs: dict[int, tuple[Payloads, Any]] = {}
        self._local = scale.address is None

    # lifecycle
    def __enter__(self) -> ClientPool:
        if self._local:
            for key, value in _LOOPBACK_ENV.items():
                os.environ.setdefault(key, value)  # ray reads them at import, its processes at start
        check_scale_out(self.scale)
        ray = import_ray()
        if self._local and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
            # Ray imported earlier in this process read the switch already; its value is looked up
            # at ray.init time (services.get_node_ip_address), so set it to what the env now says.
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
        self._ray = ray
        # ray.init installs its own SIGTERM handler (sys.exit) and shutdown() does not restore
        # it: a `kill` of the run would then skip our Ctrl-C path (stop_signals.py) and leave
        # the run marked OK with a partial sweep. Keep whatever handler the caller had.
        term_handler = signal.getsignal(signal.SIGTERM)
        try:
            if self._local:
                store = max(100 << 20, 3 * self._payload_bytes_hint)
                ray.init(
                    address="local",  # a new instance, never a cluster found on this machine by accident
                    num_cpus=self.scale.processes,
                    include_dashboard=False,
                    object_store_memory=store,
                    log_to_driver=False,
                    namespace="deploy-compare-load",
                )
            else:
                ray.init(address=self.scale.address, log_to_driver=False, namespace="deploy-compare-load")
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError...
            self._shutdown()
            where = self.scale.address or "a local Ray instance"
            raise LoadError(f"could not start the client actors on {where}: {type(exc).__name__}: {exc}") from None
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, term_handler)
        self._actor_cls = ray.remote(num_cpus=1, max_restarts=0, scheduling_strategy="SPREAD")(LoadActor)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ray is None:
            return
        for actor in self._actors:
            if actor is None:
                continue
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already dead
                pass
        self._actors, self._where = [], []
        self._payload_refs.clear()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray = None

    @property
    def actors(self) -> list[dict[str, Any]]:
        """Where each live actor runs (node, hostname, pid), after the first run started them."""
        return list(self._where)

    def _ensure_actors(self, count: int) -> None:
        """`count` live actors; dead ones (a previous run lost them) are replaced."""
        ray = self._ray
        timeout = 120.0
        while len(self._actors) < count:
            self._actors.append(None)
            self._where.append({})
        for i in range(count):
            if self._actors[i] is None:
                self._actors[i] = self._actor_cls.remote()
        refs = [self._actor(i).where.remote() for i in range(count)]
        for i, ref in enumerate(refs):
            try:
                self._where[i] = ray.get(ref, timeout=timeout)
            except Exception:
                # Dead or never placed: replace it once; a second failure is the cluster's problem.
                self._actors[i] = self._actor_cls.remote()
                try:
                    self._where[i] = ray.get(self._actor(i).where.remote(), timeout=timeout)
                except Exception as exc:
                    raise LoadError(
                        f"client actor {i} could not be placed on the cluster within {timeout:g} s "
                        f"({type(exc).__name__}: {exc}); it needs 1 free CPU per actor"
                    ) from None

    def _actor(self, index: int) -> Any:
        actor = self._actors[index]
        if actor is None:
            raise LoadError(f"client actor {index} is not running")
        return actor

    def _payload_ref(self, payloads: Payloads) -> Any:
        held = self._payload_refs.get(id(payloads))
        if held is None or held[0] is not payloads:
            held = (payloads, self._ray.put(payloads))  # sent to every actor once, not per run
            self._payload_refs[id(payloads)] = held
        return held[1]

    # runs (same signature as runner.run_closed_loop / run_open_loop)
    def run_closed(self, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress=None) -> LoadResult:
        return self._run("closed", endpoint, payloads, config, on_progress)

    def run_open(self, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress=None) -> LoadResult:
        if config.rate_rps is None:
            raise ConfigError("LoadConfig.rate_rps is required for an open-loop run")
        return self._run("open", endpoint, payloads, config, on_progress)

    def _run(self, mode: str, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, on_progress) -> LoadResult:
        if self._ray is None:
            raise LoadError("ClientPool used outside its `with` block")
        configs = share_configs(config, mode, self.scale.processes)
        self._ensure_actors(len(configs))
        ray = self._ray
        driver_node = ray.get_runtime_context().get_node_id()
        _check_reachable(endpoint, self._where[: len(configs)], driver_node)
        own_cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        ranks: dict[str, int] = {}
        payload_ref = self._payload_ref(payloads)
        start_at = time.time() + START_DELAY_S
        shares, refs = [], []
        for i, cfg in enumerate(configs):
            where = self._where[i]
            node = where.get("node_id", "")
            rank = ranks.get(node, 0)
            ranks[node] = rank + 1
            # On the driver's machine the actors share the cores this process may use (the
            # pipeline's client cores); elsewhere each actor takes its machine's own cores.
            cores = own_cores if node == driver_node else None
            shares.append(Share(index=i, where=where, config=cfg))
            refs.append(self._actor(i).run.remote(mode, endpoint, payload_ref, cfg, rank, cores, start_at))
        if on_progress is not None:
            from .window import Progress

            on_progress(Progress(0.0, f"{len(refs)} actors", 0, 0, 0, 0.0))
        deadline = start_at + config.max_duration_s + config.timeout_s + 60.0
        for share, ref in zip(shares, refs, strict=True):
            try:
                result_dict, samples, placement = ray.get(ref, timeout=max(deadline - time.time(), 1.0))
            except Exception as exc:
                share.lost_reason = _lost_reason(exc)
                if _is_setup_error(exc):  # the same mistake on every actor: not a lost share
                    raise LoadError(share.lost_reason) from None
                self._drop_actor(share.index)
                continue
            share.result = LoadResult.from_dict(result_dict)
            share.samples = samples
            share.placement = placement
        return merge(shares, config, mode)

    def _drop_actor(self, index: int) -> None:
        try:
            self._ray.kill(self._actors[index], no_restart=True)
        except Exception:
            pass
        self._actors[index] = None  # the next run starts a fresh actor in its place
        self._where[index] = {}


def _lost_reason(exc: BaseException) -> str:
    """The cause in one line: Ray wraps a task's own exception, keep the innermost message."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, LoadError | ConfigError):
        return str(cause)
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    brief = next((line for line in text if "died" in line or "Error" in line), text[0] if text else "")
    return f"{name}: {brief[:300]}"


def _is_setup_error(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "cause", None), LoadError | ConfigError)
