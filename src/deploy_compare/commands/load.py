"""`deploy-compare load`: drive a running serving stack's endpoint with the load client.

Closed-loop sweep (default), one open-loop rate (--rate) or an SLO search (--slo-ms), with a
live progress line; a table at the end, and the full results as JSON with --json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "load a running serving stack's endpoint: concurrency sweep, open-loop rate, or SLO search"


def _levels(text: str) -> list[int]:
    try:
        levels = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,4,16, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"concurrency levels must be integers >= 1, got {text!r}")
    return levels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..clients.encodings import ENCODINGS, registered_encodings
    from ..servers.registry import names

    parser.add_argument(
        "--target",
        choices=names(),
        default=None,
        help="the serving stack behind --url: picks its protocol and the artifact whose layout the inputs take",
    )
    parser.add_argument(
        "--protocol",
        choices=registered_encodings(),
        default=None,
        help="override the target's protocol adapter (alone: the first stack speaking it gives the artifact)",
    )
    parser.add_argument(
        "--encoding",
        choices=ENCODINGS,
        default=None,
        help="how requests travel to --target: json (default), binary, grpc, json_columnar; "
        "a stack that does not speak it is refused before any request",
    )
    parser.add_argument(
        "--grpc-target",
        default=None,
        help="host:port of the server's gRPC inference API (--encoding grpc), e.g. 127.0.0.1:7070, "
        "or unix:/path of its Unix socket",
    )
    parser.add_argument("--url", required=True, help="base URL of the inference API, e.g. http://127.0.0.1:8080")
    parser.add_argument(
        "--model",
        default=None,
        help="served model name (default: the manifest's model name, as `deploy-compare serve` names it)",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts") / "digits_cnn",
        help="export directory (manifest.json + eval.npz): inputs, layout, reference answers",
    )
    parser.add_argument(
        "--input-name",
        default=None,
        help="KServe v2: the input tensor's name (default: the artifact's, from the manifest)",
    )
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="TorchServe inference key: a file with the key, or TorchServe's key_file.json",
    )
    auth.add_argument("--token", default=None, help="TorchServe inference key (visible in `ps`; prefer --token-file)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--concurrency", type=_levels, default=None, help="closed-loop sweep levels, e.g. 1,4,16 (default: [load])"
    )
    mode.add_argument("--rate", type=float, default=None, help="one open-loop run at this many requests/s")
    mode.add_argument(
        "--slo-ms",
        type=float,
        default=None,
        help="search the highest open-loop rate whose p99 stays under this bound (ms)",
    )
    # Unset flags take the [load] / [slo] settings `run` uses (default.toml, --quick, --config).
    parser.add_argument("--quick", action="store_true", help="the --quick profile of `run` (shorter runs)")
    parser.add_argument("--config", type=Path, default=None, help="a TOML file like `run --config` ([load], [slo])")
    parser.add_argument("--arrival", choices=("poisson", "constant"), default=None, help="open loop (default poisson)")
    parser.add_argument("--seed", type=int, default=None, help="open loop: arrival times (default 0)")
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="open loop: outstanding requests; arrivals beyond are dropped"
    )
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per run (default: [load])")
    parser.add_argument("--min-requests", type=int, default=None, help="measured requests per run, at least")
    parser.add_argument("--warmup", type=float, default=None, help="seconds excluded before measuring")
    parser.add_argument("--timeout", type=float, default=None, help="per-request timeout in seconds")
    parser.add_argument(
        "--batch-size",
        type=_levels,
        default=None,
        help="samples per request, one run (or sweep, or SLO search) per size, e.g. 1,8,32 "
        "(default: 1, or [load] batch_sizes when --config sets it; `run` measures 1,8,32)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all results here as JSON")
    # Scale-out (clients/distributed.py, needs Ray): the load split over N client processes.
    parser.add_argument(
        "--client-processes",
        type=int,
        default=None,
        help="run the load from N client processes (Ray actors), merged exactly into one result; needs Ray",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="place the client processes on this Ray cluster (host:port of its head) instead of this machine",
    )


def _protocol_and_artifact(args: argparse.Namespace) -> tuple[str, str]:
    from ..errors import ConfigError
    from ..servers.registry import get, stacks

    if args.target is not None:
        stack = get(args.target)
        if args.encoding is not None and args.protocol is None:
            return stack.encoding_name(args.encoding), stack.artifact  # ConfigError: does not speak it
        return args.protocol or stack.default_encoding, stack.artifact
    if args.encoding is not None and args.protocol is None:
        raise ConfigError("--encoding needs --target (the stack decides how it speaks that encoding)")
    if args.protocol is None:
        raise ConfigError("load needs --target (a serving stack) or --protocol")
    # every encoding a stack speaks (torchserve_binary is TorchServe's binary), not only its default
    speaking = [s for s in stacks().values() if args.protocol in s.spoken_encodings().values()]
    if not speaking:  # argparse's choices list every encoding class; a stack must still speak it
        raise ConfigError(f"no serving stack speaks --protocol {args.protocol}: give --target too")
    return args.protocol, speaking[0].artifact


def _token(args: argparse.Namespace) -> str | None:
    from ..errors import ConfigError

    if args.token is not None:
        return args.token
    if args.token_file is None:
        return None
    try:
        text = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"--token-file {args.token_file}: unreadable ({exc})") from None
    if text.startswith("{"):  # TorchServe's key_file.json
        try:
            return str(json.loads(text)["inference"]["key"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"--token-file {args.token_file}: JSON without inference.key") from None
    return text


def run_config_from_args(args: argparse.Namespace):
    """The settings as `run` builds them (same defaults, --quick, --config), the flags on top."""
    from ..deploy.config import load_run_config

    flags = {
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "min_requests": args.min_requests,
        "warmup_s": args.warmup,
        "timeout_s": args.timeout,
        "arrival": args.arrival,
        "seed": args.seed,
        "max_in_flight": args.max_in_flight,
        "client_processes": args.client_processes,
        "ray_address": args.ray_address,
        "batch_sizes": args.batch_size,
    }
    if args.batch_size is None and not _config_sets_batch_sizes(args.config, args.quick):
        flags["batch_sizes"] = [1]  # one workload by default: `run`'s 1,8,32 would triple the run
    overrides: dict = {"load": {k: v for k, v in flags.items() if v is not None}}
    if args.slo_ms is not None:
        # The SLO trials take their cap from [slo]: --duration means this run's trials' cap (the
        # sequential rule decides when they end; min_requests does not apply to them).
        trial = {"duration_s": args.duration}
        overrides["slo"] = {"p99_bound_ms": args.slo_ms, **{k: v for k, v in trial.items() if v is not None}}
    return load_run_config(args.config, quick=args.quick, overrides=overrides)


def _config_sets_batch_sizes(path: Path | None, quick: bool) -> bool:
    """The user's --config names [load] batch_sizes (or, with --quick, [quick.load] batch_sizes)."""
    if path is None:
        return False
    from ..defaults import read_toml

    data = read_toml(Path(path))
    tables = [data.get("load")] + ([(data.get("quick") or {}).get("load")] if quick else [])
    return any(isinstance(t, dict) and "batch_sizes" in t for t in tables)


def settings_from_args(args: argparse.Namespace):
    """[load] and [slo] as `run` builds them, the flags on top."""
    return run_config_from_args(args).load_settings()


def _row(r, confirm: bool = False) -> list[str]:
    def ms(v):
        return "-" if v is None else f"{v:.2f}"

    what = f"c={r.concurrency}" if r.mode == "closed" else f"{r.target_rate_rps:g}/s {r.arrival}"
    if confirm:
        what += " (confirm)"
    if r.batch_size != 1:
        what = f"b={r.batch_size} {what}"
    # Errors and drops count as infinitely slow: over 1% of them and no p99 bounds the run.
    p99_all = "unbounded" if r.p99_incl_failures_ms is None and r.requests else ms(r.p99_incl_failures_ms)
    errors = sum(r.errors.values())
    flags = "CLIENT-BOUND" if r.client_bottleneck else ""
    if r.lost_shares:
        flags = (flags + f" LOST {len(r.lost_shares)}/{r.client_processes} actors").strip()
    if not r.min_requests_met:
        flags = (flags + " short").strip()
    agree = "-" if r.top1_agreement is None else f"{r.top1_agreement:.3f}"
    return [
        what,
        str(r.requests),
        f"{r.throughput_rps:.1f}",
        "-" if r.throughput_samples_per_s is None else f"{r.throughput_samples_per_s:.1f}",
        ms(r.p50_ms),
        ms(r.p90_ms),
        ms(r.p99_ms),
        p99_all,
        ms(r.p999_ms),
        ms(r.max_ms),
        str(errors),
        str(r.dropped),
        agree,
        "-"
        if r.client_cpu_share is None
        else f"{r.client_cpu_share:.0%}" + (f" +{r.client_cpu_wait_share:.0%} wait" if r.client_cpu_wait_share else ""),
        "-" if r.late_share is None else f"{r.late_share:.1%} ({ms(r.send_lag_p50_ms)}/{ms(r.send_lag_p99_ms)})",
        flags,
    ]


COLUMNS = (
    "run",
    "requests",
    "req/s",
    "samples/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99 incl. failures ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "dropped",
    "top-1",
    "client CPU",
    "late (lag p50/p99 ms)",
    "flags",
)


def _endpoint(args: argparse.Namespace, manifest):
    """The endpoint behind --url as the flags describe it; the artifact whose layout it takes."""
    from ..clients.endpoint import Endpoint
    from ..servers.config import safe_model_name
    from ..servers.registry import get as get_stack

    protocol, artifact = _protocol_and_artifact(args)
    entry = manifest.artifact(artifact)
    token = _token(args)
    grpc_headers = None
    if token and args.target is not None:  # the key where this stack's gRPC API reads it
        grpc_headers = {get_stack(args.target).grpc_key_metadata: f"Bearer {token}"}
    endpoint = Endpoint(
        url=args.url,
        encoding=protocol,
        model=args.model or safe_model_name(manifest.model.name),
        token=token,
        input_name=args.input_name or (entry.inputs[0].name if entry.inputs else None),
        grpc_target=args.grpc_target,
        grpc_headers=grpc_headers,
    )
    return endpoint, artifact


def scenario_settings(args: argparse.Namespace, run_config):
    """The flags as the served stage's scenario settings (deploy/scenario.py): a closed-loop
    sweep at each batch size (default), one open-loop run at --rate, or an SLO search."""
    from ..deploy.scenario import ScenarioSettings

    settings = run_config.load_settings()  # validated before anything is read or sent
    sweep = args.rate is None and args.slo_ms is None
    levels = tuple(settings.levels) if sweep else ()
    return ScenarioSettings(
        closed=settings.closed,
        open_loop=settings.open_loop,
        slo=settings.slo,
        batch_sizes=tuple(run_config.batch_sizes()),
        levels=levels,
        batch_levels=levels,
        search=args.slo_ms is not None,
        rate_rps=args.rate,
    )


class _Table:
    """The scenario's listener for this command: a row per run, the live status line."""

    def __init__(self, title: str) -> None:
        from rich.table import Table

        self.table = Table(title=title)
        for col in COLUMNS:
            self.table.add_column(col, justify="right" if col not in ("run", "flags") else "left")
        self.results: list = []
        self.searches: list = []  # (SloResult, batch size), one per batch size
        self.status = "starting"

    def add(self, r, confirm: bool = False) -> None:
        self.results.append(r)
        self.table.add_row(*_row(r, confirm))

    def run_progress(self, at, what: str, snapshot) -> None:
        p = snapshot
        self.status = (
            f"{p.phase:9s} {p.elapsed_s:6.1f}s  {p.completed} done  {p.errors} errors  "
            f"{p.in_flight} in flight  {p.recent_rps:8.1f} req/s"
        )

    def level_finished(self, at, result) -> None:
        self.add(result)

    rate_finished = level_finished

    def trial_finished(self, at, trial) -> None:
        self.add(trial.result, trial.confirm)

    def search_finished(self, at, slo, start_rate_rps, origin) -> None:
        self.searches.append((slo, at.batch_size))

    def batch_failed(self, at, error: Exception) -> None:
        raise error  # a batch size the server refuses fails the command, as the first one does

    def render(self):
        from rich.table import Table

        grid = Table.grid()
        grid.add_row(self.table)
        grid.add_row(f"[dim]{self.status}[/dim]")
        return grid


def run(args: argparse.Namespace) -> int:
    import contextlib

    from rich.console import Console
    from rich.live import Live

    from ..clients import payloads_from_export, run_closed_loop, run_open_loop
    from ..clients.distributed import ClientPool, check_scale_out
    from ..deploy.scenario import EncodingPlan, Events, Runs, Scenario
    from ..deploy.served import scale_out
    from ..manifest import load_manifest
    from ..progress import quiet_requested

    run_config = run_config_from_args(args)
    settings = scenario_settings(args, run_config)
    scale = scale_out(run_config)  # [load] client_processes / ray_address, the flags on top
    check_scale_out(scale)  # Ray missing or cluster unreachable: fail before any work
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or logged: rich would squeeze the table into 80 columns
    manifest = load_manifest(args.artifacts)
    endpoint, artifact = _endpoint(args, manifest)
    workloads = {
        b: payloads_from_export(endpoint, args.artifacts, manifest, artifact=artifact, batch_size=b)
        for b in settings.batch_sizes
    }
    view = _Table(_title(endpoint, list(workloads.values())))
    # Sized from every workload (batch 32's bodies dwarf batch 1's): each is shipped to the actors and kept.
    hint = sum(w.body_bytes * len(w) for w in workloads.values())
    pool = ClientPool(scale, payload_bytes_hint=hint) if scale.distributed else None
    runs = Runs(
        closed=pool.run_closed if pool is not None else run_closed_loop,
        open=pool.run_open if pool is not None else run_open_loop,
    )
    plans = [EncodingPlan(args.encoding or endpoint.encoding, endpoint, None)]
    scenario = Scenario(plans, lambda _, b: workloads[b], settings, runs, Events().add(view), name=args.url)
    live = console.is_terminal and not quiet_requested()
    with contextlib.ExitStack() as stack:
        if pool is not None:
            view.status = f"starting {scale.processes} client actors on {scale.address or 'a local Ray'}"
            stack.enter_context(pool)
        if live:  # quiet (--quiet, CI, logs) or not a terminal: no live redraw, the table once at the end
            # Four refreshes a second from rich's own thread: cheap next to the load (see the client
            # CPU column; the live display's CPU counts against the client, not the server).
            stack.enter_context(Live(get_renderable=view.render, console=console, refresh_per_second=4))
        scenario.run()
        view.status = "done"
    if not live:
        console.print(view.table)
    _print_searches(console, view.searches, args.slo_ms, several=len(workloads) > 1)
    _print_notes(console, view.results)
    if args.json is not None:
        _write_json(args.json, endpoint, settings.closed, scale, view)
        console.print(f"results: {args.json}")
    return 0


def _title(endpoint, workloads: list) -> str:
    payloads = workloads[0]
    sizes = [w.batch_size for w in workloads]
    return (
        f"{endpoint.encoding} ({payloads.encoding}) {endpoint.url} model {endpoint.model} "
        f"({len(payloads)} bodies, {payloads.body_bytes} B each"
        + (f"; batch sizes {','.join(str(b) for b in sizes)}" if len(sizes) > 1 else "")
        + ")"
    )


def _print_searches(console, searches: list, bound_ms: float | None, several: bool) -> None:
    for slo_result, b in searches:
        best, fail = slo_result.max_rate_rps, slo_result.lowest_failing_rate_rps
        confirmed = {True: ", confirmed by a repeat", False: ", NOT confirmed", None: ""}[slo_result.confirmed]
        at_least = "at least " if slo_result.limited_by_client else ""
        console.print(
            f"highest rate with {slo_result.describe()} (failures counted)"
            + (f" at {b} samples per request" if several else "")
            + ": "
            + (
                "none"
                if best is None
                else f"{at_least}{best:.1f} req/s" + (f" = {at_least}{best * b:.1f} samples/s" if b != 1 else "")
            )
            + (f", bracket [pass {best:g}, fail {fail:g}) req/s" if best is not None and fail is not None else "")
            + confirmed
            + (f"  ({slo_result.note})" if slo_result.note else "")
        )


def _print_notes(console, results: list) -> None:
    from ..clients.results import client_processes_label

    for r in results:
        if r.client_actors:
            console.print(f"{_row(r)[0]}: {client_processes_label(r.to_dict())}")
        for lost in r.lost_shares:
            console.print(
                f"[red]lost[/red] ({_row(r)[0]}): actor {lost['actor']} on {lost['hostname']}: {lost['reason']}"
            )
        for reason in r.bottleneck_reasons:
            console.print(f"[yellow]warning[/yellow]: {_row(r)[0]}: the client was the bottleneck: {reason}")
        for kind, example in r.error_examples.items():
            console.print(f"[red]{kind}[/red] ({_row(r)[0]}): {example}")


def _write_json(path: Path, endpoint, config, scale, view: _Table) -> None:
    from ..fileio import write_json_atomic

    doc = {
        "endpoint": endpoint.to_dict(),
        "config": config.to_dict(),
        "scale_out": scale.to_dict(),
        "results": [r.to_dict() for r in view.results],
        "slo": view.searches[0][0].to_dict() if view.searches else None,  # the first batch size
        "slo_by_batch_size": {str(b): r.to_dict() for r, b in view.searches},
    }
    write_json_atomic(path, doc)
