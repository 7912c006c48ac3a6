"""Validate and read results documents (local benchmark output, edge runner output).

The schema is generated from BenchResult (record_schema.py): rows are the dataclass, the
document around them is the envelope results_document() writes. jsonschema is imported
lazily: only reading a foreign file needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..record_schema import DIALECT, record_schema
from .result import DEVICE_LABEL_PATTERN, RESULT_SCHEMA_VERSION, RESULTS_KIND, BenchResult


def load_schema() -> dict[str, Any]:
    """The JSON Schema of a results document (results_document()), rows from BenchResult."""
    return {
        "$schema": DIALECT,
        "title": "deploy-compare benchmark results (local benchmark and edge runner)",
        "type": "object",
        "required": ["schema_version", "kind", "created_utc", "device", "command", "results"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": RESULT_SCHEMA_VERSION},
            "kind": {"const": RESULTS_KIND},
            "created_utc": {"type": "string"},
            "device": {"type": "string", "pattern": DEVICE_LABEL_PATTERN.pattern},
            "command": {"type": "array", "items": {"type": "string"}},
            "results": {"type": "array", "items": record_schema(BenchResult)},
        },
    }


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


if __name__ == "__main__":  # the schema for other tools: python -m deploy_compare.bench_local.schema
    print(json.dumps(load_schema(), indent=2))
