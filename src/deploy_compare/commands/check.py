"""`deploy-compare check RUN --budget budget.toml`: a run's figures against budgets, as a CI gate."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "check a run against budgets (latency, invoke-only latency, peak memory, file size, accuracy drop, "
    "served p99 at a rate, SLO rate, cost): exit 0 all hold, 1 one line per violated budget, 3 a figure is missing"
)
EXIT_VIOLATED = 1
EXIT_MISSING = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import report

    report.add_arguments(parser)  # RUN, as `report` takes it
    parser.add_argument(
        "--budget",
        type=Path,
        default=None,
        help="a TOML file with one [budget] table (default: the [budget] of the config the run used)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not re-render the report with the budget section")


def run(args: argparse.Namespace) -> int:
    from ..deploy.gate_settings import parse_budget, read_budget_file
    from ..errors import ConfigError
    from ..fileio import write_json_atomic
    from ..report import render_all
    from ..report.gate import FAIL, MISSING, PASS, evaluate
    from ..report.inputs import BUDGET_NAME, load_inputs

    table = read_budget_file(args.budget) if args.budget else None  # validated before the run is read
    inputs = load_inputs(args.run_dir)
    if table is None:
        table = inputs.results.settings.get("budget")
        if table is None:
            raise ConfigError(f"{args.run_dir}: the run's settings have no [budget]; pass --budget FILE")
    checks = evaluate(parse_budget(table), inputs)
    for check in checks:
        if check.status != PASS:
            print(check.line())
    counts = {s: sum(c.status == s for c in checks) for s in (PASS, FAIL, MISSING)}
    print(f"{len(checks)} budget(s): {counts[PASS]} pass, {counts[FAIL]} fail, {counts[MISSING]} missing")
    if not args.no_report:
        write_json_atomic(
            args.run_dir / BUDGET_NAME, {"source": str(args.budget or "settings [budget]"), "budget": table}
        )
        render_all(args.run_dir)
        print(f"report with the budget section: {args.run_dir / 'report.md'}")
    return EXIT_VIOLATED if counts[FAIL] else EXIT_MISSING if counts[MISSING] else 0
