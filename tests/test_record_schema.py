"""The results schemas are generated from the typed records (record_schema.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest

from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult, StageRecord, schema
from deploy_compare.record_schema import record_schema

pytestmark = pytest.mark.unit


@dataclass
class _Inner:
    n: int


@dataclass
class _Record:
    name: str = field(metadata={"schema": {"minLength": 1}})
    inner: _Inner
    ratio: float | None = None
    tags: list[str] = field(default_factory=list)
    by_batch: dict[int, float] = field(default_factory=dict)
    anything: Any = None
    maybe_inner: _Inner | None = None
    version: int = field(default=1, metadata={"required": True})


def test_types_defaults_and_metadata_map_to_json_schema():
    s = record_schema(_Record)
    assert s["required"] == ["name", "inner", "version"]
    assert s["additionalProperties"] is False
    p = s["properties"]
    assert p["name"] == {"type": "string", "minLength": 1}
    assert p["inner"]["required"] == ["n"] and p["inner"]["properties"]["n"] == {"type": "integer"}
    assert p["ratio"] == {"type": ["number", "null"]}
    assert p["tags"] == {"type": "array", "items": {"type": "string"}}
    assert p["by_batch"]["propertyNames"] == {"pattern": "^-?[0-9]+$"}
    assert p["anything"] == {}
    assert p["maybe_inner"]["type"] == ["object", "null"] and p["maybe_inner"]["required"] == ["n"]
    jsonschema.validate({"name": "a", "inner": {"n": 1}, "version": 1, "by_batch": {"32": 1.5}}, s)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "", "inner": {"n": 1}, "version": 1}, s)


def test_results_json_schema_follows_the_dataclasses():
    """A field added to a record is in the schema with no other edit; one with a default is optional."""
    doc = schema()
    served = doc["properties"]["served"]["items"]
    assert set(served["properties"]) == set(ServedResult.__dataclass_fields__)
    assert served["required"] == ["target", "status"]
    assert set(doc["properties"]["run"]["properties"]) == set(RunInfo.__dataclass_fields__)
    results = RunResults(
        run=RunInfo(id="r", profile="quick", started_utc="t", command="c", stages=[StageRecord("export", "OK")]),
        settings={},
        served=[ServedResult(target="fastapi_onnx", status="SKIPPED", reason="no engine")],
    )
    jsonschema.validate(results.to_dict(), doc)
    assert RunResults.from_dict(results.to_dict()) == results
    bad = results.to_dict()
    bad["served"][0]["reason"] = None  # a SKIPPED row must say why
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, doc)
