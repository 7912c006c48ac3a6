"""`deploy-compare diff RUN_A RUN_B`: compare two runs; exit code 1 when B regressed."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "compare two runs figure by figure (latency, throughput, SLO rate, sizes, accuracy); "
    "exit code 1 when RUN_B regressed beyond the tolerance, 2 when a run directory is missing or invalid"
)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share like 0.10 (= 10%), got {text!r}") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 10 (0.10 = 10%), got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="the baseline run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="the run to check against the baseline")
    parser.add_argument(
        "--tolerance",
        type=_share,
        default=0.10,
        help="relative change allowed for latency, throughput and rate (default 0.10 = 10%%)",
    )


def run(args: argparse.Namespace) -> int:
    from ..deploy.results import load_results
    from ..errors import ConfigError, DeployCompareError
    from ..report.diff import diff_runs, format_diff

    loaded = []
    for label, path in (("RUN_A", args.run_a), ("RUN_B", args.run_b)):
        # A bad argument exits 2, so exit code 1 always means "regression found".
        if not path.is_dir():
            raise ConfigError(f"{label} {path}: no such run directory")
        try:
            loaded.append(load_results(path))
        except DeployCompareError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    report = diff_runs(loaded[0], loaded[1], args.tolerance)
    print(format_diff(report, "A", "B"))
    print(f"A = {args.run_a}\nB = {args.run_b}")
    return 1 if report.regressions else 0
