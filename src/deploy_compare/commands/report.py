"""`deploy-compare report [RUN]`: re-render results.csv, report.md and report.html from results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "re-render a run's report (results.csv, report.md, report.html) from its results.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        nargs="?",
        type=Path,
        default=Path("runs/latest"),
        metavar="RUN",
        help="run directory (default: runs/latest)",
    )


def run(args: argparse.Namespace) -> int:
    from ..report import render_all

    for path in render_all(args.run_dir):
        print(f"wrote {path}")
    return 0
