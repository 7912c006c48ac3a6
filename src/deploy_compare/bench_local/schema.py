"""Validate and read results documents (local benchmark output, edge runner output).

jsonschema is imported lazily: only reading a foreign file needs it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from .result import BenchResult

SCHEMA_FILE = "bench_result.schema.json"


def load_schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def validate_document(doc: Any, source: str) -> None:
    """Raise ResultsError naming `source`, the JSON path and the problem when doc is invalid."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ResultsError(f"{source}: not a deploy-compare results file: at {where}: {first.message}{more}")


def read_document(path: Path) -> tuple[dict[str, Any], list[BenchResult]]:
    """Read and validate a results JSON file: (document, results)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: not readable JSON ({exc})") from None
    validate_document(doc, str(path))
    try:
        return doc, [BenchResult.from_dict(r) for r in doc["results"]]
    except (TypeError, ValueError) as exc:
        raise ResultsError(f"{path}: {exc}") from None
