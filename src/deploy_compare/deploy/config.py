"""`deploy-compare run` settings: default.toml (full profile), [quick] overrides, --config file.

Each TOML table maps onto the typed config of the area that owns it (bench_local,
servers, clients), so validation lives in one place per area. Unknown keys are errors
that name the key and the keys allowed.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError

DEFAULTS = Path(__file__).with_name("default.toml")
SECTIONS = ("run", "local", "torchserve", "tfserving", "load", "slo", "report")
TARGETS = ("torchserve", "tfserving")
SERVER_MODES = ("auto", "docker", "native")


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML ({exc})") from None


def check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def build(cls: type, table: dict, where: str) -> Any:
    """Construct a config dataclass from a TOML table; errors name the table."""
    check_keys(table, {f.name for f in fields(cls)}, where)
    try:
        return cls(**table)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass
class RunSection:
    model: str = "builtin"
    runs_dir: str = "runs"
    artifacts_dir: str = ""
    targets: list[str] = field(default_factory=lambda: list(TARGETS))
    server_mode: str = "auto"
    pin_cores: bool = True

    def __post_init__(self) -> None:
        bad = [t for t in self.targets if t not in TARGETS]
        if bad:
            raise ConfigError(f"run.targets: unknown target(s) {', '.join(bad)}; allowed: {', '.join(TARGETS)}")
        if self.server_mode not in SERVER_MODES:
            raise ConfigError(f"run.server_mode must be one of {', '.join(SERVER_MODES)}, got {self.server_mode!r}")


@dataclass
class RunConfig:
    """Everything one `deploy-compare run` needs, already validated."""

    profile: str  # "full" or "quick"
    run: RunSection
    raw: dict  # the merged TOML, recorded in results.json as the settings used

    def section(self, name: str) -> dict:
        return copy.deepcopy(self.raw.get(name, {}))

    def artifacts_dir(self, model_name: str) -> Path:
        return Path(self.run.artifacts_dir) if self.run.artifacts_dir else Path("artifacts") / model_name


def load_run_config(path: Path | None = None, quick: bool = False, overrides: dict | None = None) -> RunConfig:
    """Precedence, lowest first: defaults, default [quick] (with --quick), the user's file,
    the user's own [quick] table (with --quick), command-line overrides."""
    data = read_toml(DEFAULTS)
    default_quick = data.pop("quick", {})
    if quick:
        data = deep_merge(data, default_quick)
    if path is not None:
        user = read_toml(Path(path))
        user_quick = user.pop("quick", {})
        check_keys(user, set(SECTIONS), f"{path}")
        data = deep_merge(data, user)
        if quick:
            data = deep_merge(data, user_quick)
    if overrides:
        data = deep_merge(data, overrides)
    check_keys(data, set(SECTIONS), "settings")
    run = build(RunSection, data.get("run", {}), "[run]")
    from ..report.edge import accuracy_budget_points

    accuracy_budget_points(data)  # validated before any work, read again when the report renders
    return RunConfig(profile="quick" if quick else "full", run=run, raw=data)
