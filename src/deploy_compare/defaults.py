"""The default settings, written once: deploy/default.toml (the full profile).

Why the TOML file is the source and the config dataclasses read it (rather than the other
way round): default.toml is the commented, user-facing description of every setting, with
the --quick profile beside the full one, and `run` merges a user's file over it; a
dataclass default written as a literal beside it drifted (`load` ran 10 s / 200 requests
while `run` ran 15 s / 300). So a config field whose key is in default.toml takes its
default from there:

    duration_s: float = default("load", "duration_s")

and `LoadConfig()` (the `load` command, the library, the tests) starts where `run` does.
Fields that default.toml does not list keep their literal default in the dataclass (one
place either way). tests/test_settings.py checks that each table of default.toml builds
exactly the dataclass's default instance.
"""

from __future__ import annotations

import copy
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_TOML = Path(__file__).parent / "deploy" / "default.toml"


def read_toml(path: Path) -> dict:
    """A settings file as a dict; a missing or invalid file is a ConfigError naming it."""
    from .errors import ConfigError

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML ({exc})") from None


@cache
def _full_profile() -> dict[str, Any]:
    with open(DEFAULT_TOML, "rb") as fh:
        data = tomllib.load(fh)
    data.pop("quick", None)
    data.pop("thorough", None)
    return data


def default(section: str, key: str) -> Any:
    """default.toml's [section] key (full profile); a KeyError names the missing key."""
    try:
        return copy.deepcopy(_full_profile()[section][key])
    except KeyError:
        raise KeyError(f"{DEFAULT_TOML}: no [{section}] {key} (a config dataclass reads its default there)") from None
