"""Command-line entry point.

Each sub-command lives in deploy_compare/commands/<name>.py and exposes
`HELP: str`, `add_arguments(parser)` and `run(args) -> int`. Command modules import
heavy libraries (torch, tensorflow) only inside `run`, so `--help` stays instant.
Adding a command = one module + one line in COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import DeployCompareError
from .progress import QUIET_ENV

COMMANDS: dict[str, str] = {
    "run": "deploy_compare.commands.run",
    "export": "deploy_compare.commands.export",
    "verify": "deploy_compare.commands.verify",
    "bench-local": "deploy_compare.commands.bench_local",
    "serve": "deploy_compare.commands.serve",
    "load": "deploy_compare.commands.load",
    "report": "deploy_compare.commands.report",
    "diff": "deploy_compare.commands.diff",
    "check": "deploy_compare.commands.check",
    "edge-bundle": "deploy_compare.commands.edge_bundle",
    "ingest-edge": "deploy_compare.commands.ingest_edge",
    "edge-run": "deploy_compare.commands.edge_run",
    "clean": "deploy_compare.commands.clean",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploy-compare",
        description="Export one model to every deployment path and measure each path the same way.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="plain progress lines: no live status line, colour or cursor codes (CI, logs)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        cmd.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors"
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ[QUIET_ENV] = "1"  # every ProgressLog of this process (and its children) reads it
    try:
        return int(args._run(args) or 0)
    except DeployCompareError as exc:
        if args.debug:
            raise
        print(f"deploy-compare {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"deploy-compare {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
