"""`deploy-compare edge-run --ssh user@host`: the edge bundle measured on a device over SSH, ingested into a run."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any

HELP = (
    "measure the edge bundle on a device over SSH (system ssh/scp, your keys and known_hosts): check its "
    "Python, numpy and TFLite runtime, copy, run run_edge.py, fetch and ingest the result, clean up"
)
FETCHED_DIR = "edge-fetched"  # <run>/edge-fetched/<device>.json as fetched, <device>.partial.json when cut short
BUNDLE_DIR = "edge-bundle"  # <run>/edge-bundle: built once per run from its artifacts, then reused


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--ssh", metavar="USER@HOST[:PORT]", help="the device to reach with ssh")
    where.add_argument("--host", metavar="LABEL", help="a device of the config's [edge.hosts.<label>] tables")
    parser.add_argument("--config", type=Path, default=None, help="settings file with [edge.hosts.<label>] tables")
    parser.add_argument("--run", type=Path, default=Path("runs/latest"), help="run directory (default: runs/latest)")
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help=f"an edge bundle to use as it is, or the directory to build one in (default: <run>/{BUNDLE_DIR})",
    )
    parser.add_argument("--artifacts", type=Path, default=None, help="artifacts to bundle (default: the run's)")
    parser.add_argument("--model", default="builtin", help="model to export when the artifacts have none yet")
    parser.add_argument("--device", default=None, help="device label (default: --host's label or the host name)")
    parser.add_argument("--python", default=None, help="the device's Python (default: python3)")
    parser.add_argument(
        "--ssh-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to ssh and scp as -o KEY=VALUE (repeatable), e.g. UserKnownHostsFile=FILE, IdentityFile=KEY",
    )
    parser.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1)")
    parser.add_argument("--emulator", default=None, help="the device's Python runs under this emulator command")
    parser.add_argument("--only", default=None, help="comma-separated model names of the bundle (default: all)")
    parser.add_argument("--quick", action="store_true", help="short runs (rough figures)")
    parser.add_argument("--keep", action="store_true", help="leave the bundle and its result on the device")


def _label_from_host(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", host).strip("-._")[:64] or "device"


def resolve_host(args: argparse.Namespace) -> Any:
    """The EdgeHost: a configured one (--host) or --ssh, with the flags over its fields."""
    from ..deploy.config import load_run_config
    from ..edge.hosts import EdgeHost, check_label, check_options, check_threads, edge_hosts, parse_target
    from ..errors import ConfigError

    if args.host is not None:
        hosts = edge_hosts(load_run_config(args.config).raw) if args.config else {}
        if args.host not in hosts:
            where = f"{args.config}" if args.config else "no --config given"
            raise ConfigError(
                f"--host {args.host}: no [edge.hosts.{args.host}] ({where}; have: {', '.join(hosts) or 'none'})"
            )
        host = hosts[args.host]
    else:
        if args.config:
            load_run_config(args.config)  # a bad settings file stops the command before any work
        target = parse_target(args.ssh)
        host = EdgeHost(label=_label_from_host(target.host), target=target)
    changes: dict[str, Any] = {}
    if args.device is not None:
        changes["label"] = check_label(args.device, "--device")
    if args.python is not None:
        changes["python"] = args.python
    if args.ssh_option:
        changes["ssh_options"] = check_options(args.ssh_option, "--ssh-option") + host.ssh_options
    if args.threads is not None:
        try:
            threads = [int(t) for t in args.threads.split(",") if t.strip()]
        except ValueError:
            raise ConfigError(f"--threads: comma-separated integers, got {args.threads!r}") from None
        changes["threads"] = check_threads(threads, "--threads")
    if args.emulator is not None:
        changes["emulator"] = args.emulator
    return dataclasses.replace(host, **changes)


def _artifacts_of_run(run_dir: Path) -> Path | None:
    import json

    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        configured = results["settings"]["run"].get("artifacts_dir") or ""
        return Path(configured) if configured else Path("artifacts") / results["model"]["name"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def resolve_bundle(args: argparse.Namespace, run_dir: Path) -> Path:
    """A bundle to copy: --bundle as it is when it is one, else built (from the run's artifacts)."""
    from ..edge.bundle import BUNDLE_MARKERS, write_edge_bundle
    from .edge_bundle import ensure_exported

    bundle = args.bundle or run_dir / BUNDLE_DIR
    if all((bundle / marker).exists() for marker in BUNDLE_MARKERS):
        print(f"using the edge bundle in {bundle}")
        return bundle
    artifacts = ensure_exported(args.model, args.artifacts or _artifacts_of_run(run_dir))
    print(f"building the edge bundle of {artifacts} in {bundle}")
    return write_edge_bundle(artifacts, bundle)


def run(args: argparse.Namespace) -> int:
    import time

    from ..edge.ingest import ingest_edge_result
    from ..edge.remote import RemoteDevice, RunOptions
    from ..errors import ConfigError, ResultsError
    from ..manifest import load_manifest
    from .ingest_edge import stored

    host = resolve_host(args)
    if not args.run.is_dir():
        raise ResultsError(f"{args.run}: no such run directory (run the pipeline first, or pass --run DIR)")
    only = tuple(n.strip() for n in args.only.split(",") if n.strip()) if args.only else ()
    device = RemoteDevice(host)
    bundle = resolve_bundle(args, args.run)
    have = list(load_manifest(bundle).artifacts)
    unknown = [name for name in only if name not in have]
    if unknown:
        raise ConfigError(f"--only: not in the bundle {bundle}: {', '.join(unknown)}; it has: {', '.join(have)}")
    started = time.monotonic()
    outcome = device.run_bundle(
        bundle,
        args.run / FETCHED_DIR,
        RunOptions(quick=args.quick, only=only, keep=args.keep),
        progress=lambda line: print(f"[{time.monotonic() - started:7.1f}s] {line}", flush=True),
    )
    line, counts = stored(ingest_edge_result(outcome.result, args.run))
    print(
        f"{line}; copied {outcome.copied_files} files ({outcome.copied_bytes / 1024:.1f} KiB) in "
        f"{outcome.copy_s:.1f} s, ran {outcome.run_s:.1f} s, {time.monotonic() - started:.1f} s in all"
    )
    return 0 if counts["OK"] and not counts["FAILED"] else 1
