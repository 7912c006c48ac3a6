"""What a report reads from a run directory: results.json, environment.json, edge/*.json, budget.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..deploy.results import RunResults, load_results
from ..errors import ResultsError

ENVIRONMENT_NAME = "environment.json"
EDGE_DIR = "edge"
#: the [budget] table `deploy-compare check --budget FILE` judged this run against (deploy/gate_settings.py)
BUDGET_NAME = "budget.json"


@dataclass
class ReportInputs:
    results: RunResults
    environment: dict[str, Any] | None = None
    #: device label -> its BenchResult dicts (results.json's edge rows, replaced by edge/<device>.json)
    edge: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    edge_problems: list[str] = field(default_factory=list)  # unreadable edge files, named
    #: the [budget] table to show (budget.json, else the run's settings); None: no budget section
    budget: dict[str, Any] | None = None


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def group_edge(rows: list[Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if isinstance(row, dict):
            out.setdefault(str(row.get("device") or "unknown"), []).append(row)
    return out


def load_inputs(run_dir: Path) -> ReportInputs:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such run directory")
    results = load_results(run_dir)
    environment = None
    env_path = run_dir / ENVIRONMENT_NAME
    if env_path.exists():
        try:
            data = _read_json(env_path)
            environment = data if isinstance(data, dict) else None
        except (OSError, json.JSONDecodeError):
            environment = None
    edge = group_edge(results.edge)
    problems = []
    for path in sorted((run_dir / EDGE_DIR).glob("*.json")):
        # Files written by `deploy-compare ingest-edge` were validated on the way in; a file
        # damaged since is named in the report instead of failing it.
        try:
            doc = _read_json(path)
            rows = doc["results"]
            device = str(doc.get("device") or path.stem)
            if not isinstance(rows, list):
                raise TypeError("'results' is not a list")
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(f"{EDGE_DIR}/{path.name}: unreadable ({exc})")
            continue
        edge[device] = [r for r in rows if isinstance(r, dict)]
    budget = results.settings.get("budget") if isinstance(results.settings, dict) else None
    if (run_dir / BUDGET_NAME).exists():
        try:
            budget = _read_json(run_dir / BUDGET_NAME)["budget"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            budget = {}  # shown as a budget that cannot be read, never a silently missing section
    return ReportInputs(results, environment, dict(sorted(edge.items())), problems, budget)
