"""Lazy registries: map short names to "module:attribute" strings, import on first use.

This keeps `deploy-compare --help` instant: nothing heavy is imported until a command
actually needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError


def import_object(spec: str) -> Any:
    """Import "package.module:attribute" (attribute may be dotted)."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(f"expected 'package.module:attribute', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


class LazyRegistry:
    """Names -> lazily imported objects. `kind` is used in error messages."""

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def spec(self, name: str) -> str:
        try:
            return self._entries[name]
        except KeyError:
            allowed = ", ".join(self._entries)
            raise ConfigError(f"unknown {self.kind} {name!r}; allowed: {allowed}") from None

    def load(self, name: str) -> Any:
        return import_object(self.spec(name))
