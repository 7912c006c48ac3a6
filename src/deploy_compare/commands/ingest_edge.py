"""`deploy-compare ingest-edge RESULT.json`: add an edge device's results to a run's report."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "add the JSON written by an edge bundle's run_edge.py to a run (stored as <run>/edge/<device>.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", type=Path, help="the JSON file run_edge.py wrote")
    parser.add_argument("--run", type=Path, default=Path("runs/latest"), help="run directory (default: runs/latest)")


def stored(target: Path) -> tuple[str, dict[str, int]]:
    """ "stored 6 rows (6 OK, ...) for device 'pi4' in RUN/edge/pi4.json" and the row counts by status."""
    from ..bench_local.schema import read_document

    _, results = read_document(target)
    counts = {s: sum(r.status == s for r in results) for s in ("OK", "SKIPPED", "FAILED")}
    line = (
        f"stored {len(results)} rows ({counts['OK']} OK, {counts['SKIPPED']} SKIPPED, {counts['FAILED']} FAILED) "
        f"for device {results[0].device!r} in {target}"
    )
    return line, counts


def run(args: argparse.Namespace) -> int:
    from ..edge.ingest import ingest_edge_result

    print(stored(ingest_edge_result(args.result, args.run))[0])
    return 0
