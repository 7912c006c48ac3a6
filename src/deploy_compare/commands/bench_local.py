"""`deploy-compare bench-local`: every artifact in its in-process runtime, per profile and thread count."""

from __future__ import annotations

import argparse
import sys
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
        default=None,
        help="comma-separated: server (not pinned) and/or edge (pinned to --edge-threads "
        "cores, a phone/Raspberry-Pi-class CPU); default: [local] profiles (both)",
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
        default=None,
        help="thread counts for the edge profile, each pinned to that many cores (default: [local] edge_threads, 1)",
    )
    parser.add_argument("--quick", action="store_true", help="the --quick profile of `run` (rough figures)")
    parser.add_argument(
        "--config", type=Path, default=None, help="a TOML file like `run --config`; its [local] table applies"
    )
    parser.add_argument("--min-iterations", type=int, default=None, help="single-stream minimum call count")
    parser.add_argument("--min-duration", type=float, default=None, help="single-stream minimum seconds")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds allowed per measurement process (default 600)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    parser.add_argument(
        "--logs", type=Path, default=None, help="keep each measurement process's stderr (native logs) in this directory"
    )


def config_from_args(args: argparse.Namespace):
    """The [local] settings `run` would use (same defaults, same --quick), the flags on top."""
    from ..deploy.config import load_run_config

    flags = {
        "profiles": [p.strip() for p in args.profile.split(",") if p.strip()] if args.profile else None,
        "server_threads": args.threads,
        "edge_threads": args.edge_threads,
        "worker_timeout_s": args.timeout,
    }
    measure = {"min_iterations": args.min_iterations, "min_duration_s": args.min_duration}
    local = {k: v for k, v in flags.items() if v is not None}
    local["measure"] = {k: v for k, v in measure.items() if v is not None}
    return load_run_config(args.config, quick=args.quick, overrides={"local": local}).bench_config()


def run(args: argparse.Namespace) -> int:
    from ..bench_local import markdown_table, results_document, run_local_benchmarks
    from ..fileio import write_json_atomic
    from ..progress import ProgressLog

    config = config_from_args(args)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    with ProgressLog() as progress:
        results = run_local_benchmarks(args.artifacts, only, config, progress=progress.line, log_dir=args.logs)
    print()
    print(markdown_table(results))
    if args.out:
        write_json_atomic(args.out, results_document(results, "local", ["deploy-compare", *sys.argv[1:]]))
        print(f"\nwrote {args.out}")
    failed = [r for r in results if r.status == "FAILED"]
    return 1 if failed else 0
