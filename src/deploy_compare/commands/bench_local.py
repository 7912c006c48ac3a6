"""`deploy-compare bench-local`: every artifact in its in-process runtime, per profile and thread count."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = (
    "benchmark the exported artifacts in-process (TorchScript, ONNX Runtime, TensorFlow, TFLite): "
    "latency, throughput, load time, memory, correctness; server and edge profiles"
)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,2,4, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts/digits_cnn"),
        help="directory holding manifest.json (default: artifacts/digits_cnn)",
    )
    parser.add_argument("--only", default=None, help="comma-separated artifact names (default: all)")
    parser.add_argument(
        "--profile",
        default="server,edge",
        help="comma-separated: server (not pinned) and/or edge (pinned to --edge-threads "
        "cores, a phone/Raspberry-Pi-class CPU); default both",
    )
    parser.add_argument(
        "--threads",
        type=_int_list,
        default=None,
        help="thread counts for the server profile, e.g. 1,2 (default: 1 and all cores)",
    )
    parser.add_argument(
        "--edge-threads",
        type=_int_list,
        default=(1,),
        help="thread counts for the edge profile, each pinned to that many cores (default: 1)",
    )
    parser.add_argument("--quick", action="store_true", help="short runs for a first look or CI (rough figures)")
    parser.add_argument("--min-iterations", type=int, default=None, help="single-stream minimum call count")
    parser.add_argument("--min-duration", type=float, default=None, help="single-stream minimum seconds")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per measurement process")
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    parser.add_argument(
        "--logs", type=Path, default=None, help="keep each measurement process's stderr (native logs) in this directory"
    )


def config_from_args(args: argparse.Namespace):
    import dataclasses

    from ..bench_local import BenchConfig, MeasureSettings
    from ..errors import ConfigError

    settings = MeasureSettings.quick() if args.quick else MeasureSettings()
    overrides = {}
    if args.min_iterations is not None:
        overrides["min_iterations"] = args.min_iterations
    if args.min_duration is not None:
        overrides["min_duration_s"] = args.min_duration
    try:
        settings = dataclasses.replace(settings, **overrides)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    kwargs = dict(
        profiles=tuple(p.strip() for p in args.profile.split(",") if p.strip()),
        edge_threads=args.edge_threads,
        settings=settings,
        worker_timeout_s=args.timeout,
    )
    if args.threads is not None:
        kwargs["server_threads"] = args.threads
    return BenchConfig(**kwargs)


def run(args: argparse.Namespace) -> int:
    from ..bench_local import markdown_table, results_document, run_local_benchmarks
    from ..fileio import write_json_atomic

    config = config_from_args(args)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    results = run_local_benchmarks(args.artifacts, only, config, progress=progress, log_dir=args.logs)
    print()
    print(markdown_table(results))
    if args.out:
        write_json_atomic(args.out, results_document(results, "local", ["deploy-compare", *sys.argv[1:]]))
        print(f"\nwrote {args.out}")
    failed = [r for r in results if r.status == "FAILED"]
    return 1 if failed else 0
