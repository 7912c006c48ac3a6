"""Add an edge runner's results to a run: validate, then store as <run>/edge/<device>.json.

The run directory belongs to the pipeline (runs/<timestamp>/ with results.json); its
report reads <run>/edge/*.json as extra rows, one device per file.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..bench_local.result import DEVICE_LABEL_PATTERN
from ..bench_local.schema import read_document
from ..errors import ResultsError
from ..fileio import write_json_atomic

EDGE_DIR = "edge"
RUN_RESULTS = "results.json"  # the pipeline's; only its model.content_hash is read here


def _run_model_hash(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / RUN_RESULTS).read_text(encoding="utf-8"))["model"]["content_hash"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no (readable) results.json yet: nothing to compare with


def ingest_edge_result(result_path: Path, run_dir: Path) -> Path:
    """Validate `result_path` and copy it into `run_dir`/edge/<device>.json (replacing that device's file).

    Refuses results of another model than the run's (results.json model.content_hash) when both say.
    """
    result_path, run_dir = Path(result_path), Path(run_dir)
    doc, results = read_document(result_path)
    device = doc["device"]
    # The schema checks the pattern too; checked again here because it becomes a file name.
    if not DEVICE_LABEL_PATTERN.match(device) or device in (".", ".."):
        raise ResultsError(
            f"{result_path}: device label {device!r} cannot be a file name (use letters, digits, '.', '_' or '-')"
        )
    others = sorted({r.device for r in results if r.device != device})
    if others:
        raise ResultsError(f"{result_path}: rows of other devices {others} in a file labelled {device!r}")
    if not results:
        raise ResultsError(f"{result_path}: no results in the file")
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such run directory (run the pipeline first, or pass --run DIR)")
    run_hash = _run_model_hash(run_dir)
    edge_hashes = sorted({r.model_content_hash for r in results if r.model_content_hash})
    if run_hash and edge_hashes and edge_hashes != [run_hash]:
        raise ResultsError(
            f"{result_path}: measured model(s) {', '.join(edge_hashes)}, but the run in {run_dir} "
            f"measured model {run_hash}; make a bundle from this run's artifacts and measure again"
        )
    target = run_dir / EDGE_DIR / f"{device}.json"
    write_json_atomic(target, doc)
    return target
