"""JSON Schema of a typed record (a dataclass), generated from its fields.

Why generated: the results files (results.json, the benchmark / edge runner JSON) are
`to_dict()` of dataclasses, and a hand-written schema beside them drifted (a field added
to the model and forgotten in the schema, or required there so that older files stopped
validating). Here the dataclass is the only place a field is written:

- the JSON type comes from the annotation (str, int, float, bool, None, Any, Optional/Union,
  list/List, dict/Dict, tuple, nested dataclasses);
- a field WITHOUT a default is required; a field WITH a default is optional, so a file
  written before the field existed still validates (adding a field never breaks old files);
  `field(default=..., metadata={"required": True})` for one that every file has always had;
- extra keywords come from the field's metadata: `field(metadata={"schema": {"minimum": 0}})`;
- cross-field rules come from an optional class attribute SCHEMA_RULES (a list of
  JSON Schema `if`/`then` objects, put under `allOf`);
- unknown keys are rejected (`additionalProperties: false`), as `cls(**d)` would.

The models stay stdlib-only (the edge runner is assembled from bench_local/result.py); only
this generator, which runs in the project, knows about JSON Schema.

A core module: it knows no record. Each document prints its own schema for other tools:
`python -m deploy_compare.deploy.results` (results.json), `python -m deploy_compare.bench_local.schema`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of one annotation (already resolved by typing.get_type_hints)."""
    if tp is Any:
        return {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return record_schema(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [type_schema(a) for a in args]
        if all(set(m) == {"type"} for m in members):  # all plain: one "type" list
            names: list[str] = []
            for m in members:
                names.extend(m["type"] if isinstance(m["type"], list) else [m["type"]])
            return {"type": names}
        nullable = any(m == {"type": "null"} for m in members)
        rest = [m for m in members if m != {"type": "null"}]
        if nullable and len(rest) == 1 and isinstance(rest[0].get("type"), str):  # Optional[list[...]] etc.
            return {**rest[0], "type": [rest[0]["type"], "null"]}
        return {"anyOf": members}
    if origin in (list, tuple, set, frozenset):
        items = type_schema(args[0]) if args else {}  # list[X], tuple[X, ...]
        return {"type": "array", **({"items": items} if items else {})}
    if origin is dict:
        key, value = args if args else (str, Any)
        out: dict[str, Any] = {"type": "object"}
        if key is int:  # JSON object keys are strings: "32" for the int key 32
            out["propertyNames"] = {"pattern": "^-?[0-9]+$"}
        values = type_schema(value)
        if values:
            out["additionalProperties"] = values
        return out
    raise TypeError(f"record_schema: no JSON Schema for the annotation {tp!r}")


def _field_schema(f: dataclasses.Field, tp: Any) -> dict[str, Any]:
    schema = type_schema(tp)
    schema.update(f.metadata.get("schema", {}))
    return schema


def record_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of `cls.to_dict()` / `asdict(cls(...))`: see the module docstring."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        properties[f.name] = _field_schema(f, hints[f.name])
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default or f.metadata.get("required"):
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    out["additionalProperties"] = False
    rules = getattr(cls, "SCHEMA_RULES", None)
    if rules:
        out["allOf"] = list(rules)
    return out


def document_schema(title: str, cls: type) -> dict[str, Any]:
    """A top-level schema: the dialect and a title around record_schema(cls)."""
    return {"$schema": DIALECT, "title": title, **record_schema(cls)}
