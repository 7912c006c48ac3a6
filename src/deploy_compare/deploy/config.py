"""`deploy-compare run` settings: default.toml (the default profile, "full"), [quick] or
[thorough] overrides, --config file.

Each TOML table maps onto the typed config of the area that owns it (bench_local,
servers, clients), so validation lives in one place per area. Unknown keys are errors
that name the key and the keys allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # the typed configs of each area; imported lazily at run time
    from ..bench_local import BenchConfig
    from ..clients import LoadConfig, SloConfig

from ..defaults import DEFAULT_TOML, default, read_toml
from ..errors import ConfigError
from ..servers.config import MODES
from .pairs import ServedPair, served_pairs
from .report_settings import accuracy_budget_points, cost_settings

DEFAULTS = DEFAULT_TOML
BUSY_MODES = ("stop", "warn")
#: overrides default.toml's [run] busy_machine (a settings file and the CLI still win): the test
#: suite sets "warn" (tests/conftest.py), since its own tests and other engineers' keep the cores busy
BUSY_MACHINE_ENV = "DEPLOY_COMPARE_BUSY_MACHINE"
SCALE_OUT_KEYS = ("client_processes", "ray_address")  # [load] keys of the client's placement
WORKLOAD_KEYS = ("batch_sizes", "batch_concurrency")  # [load] keys of what is sent, read by RunConfig.batch_sizes()


def targets() -> tuple[str, ...]:
    """Every registered serving stack, in order (servers/registry.py)."""
    from ..servers.registry import names

    return names()


def sections() -> tuple[str, ...]:
    """The TOML tables a settings file may have: one per area, one per serving stack."""
    return ("run", "local", *targets(), "load", "slo", "tune", "report", "cost", "edge", "budget")


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


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
    model: str = default("run", "model")
    runs_dir: str = default("run", "runs_dir")
    artifacts_dir: str = default("run", "artifacts_dir")
    targets: list[str] = field(default_factory=lambda: list(targets()))
    # (stack, artifact) pairs to measure, "stack" or "stack:artifact" (deploy/pairs.py); [] = each
    # target with its own format and every target that can with ONNX Runtime
    serve: list[str] = field(default_factory=list)
    server_mode: str = default("run", "server_mode")
    pin_cores: bool = default("run", "pin_cores")
    repeat: int = default("run", "repeat")  # each served point measured this many times, the stacks interleaved
    server_memory_limit_mib: int = default(
        "run", "server_memory_limit_mib"
    )  # 0 = none; else Docker's --memory, natively the tree killed at it
    # the preflight and the check before each stage (deploy/preflight.py): another process above
    # busy_cpu_share of one core, sampled over busy_sample_s, stops the run ("stop") or marks
    # the figures measured beside it ("warn")
    busy_machine: str = default("run", "busy_machine")
    busy_cpu_share: float = default("run", "busy_cpu_share")
    busy_sample_s: float = default("run", "busy_sample_s")

    def __post_init__(self) -> None:
        if self.busy_machine not in BUSY_MODES:
            raise ConfigError(f"run.busy_machine must be one of {', '.join(BUSY_MODES)}, got {self.busy_machine!r}")
        for name in ("busy_cpu_share", "busy_sample_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"run.{name} must be a number > 0, got {value!r}")
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise ConfigError(f"run.repeat must be an integer >= 1, got {self.repeat!r}")
        allowed = targets()
        bad = [t for t in self.targets if t not in allowed]
        if bad:
            raise ConfigError(f"run.targets: unknown target(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
        twice = sorted({t for t in self.targets if self.targets.count(t) > 1})
        if twice:  # a target named twice would share one results record and one stage name
            raise ConfigError(
                f"run.targets: each target once, got {', '.join(twice)} more than once ([run] repeat repeats)"
            )
        self.pairs()  # validated here: a bad pair stops the command before any work
        limit = self.server_memory_limit_mib
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ConfigError(f"run.server_memory_limit_mib must be an integer >= 0 (0 = no limit), got {limit!r}")
        if self.server_mode not in MODES:
            raise ConfigError(f"run.server_mode must be one of {', '.join(MODES)}, got {self.server_mode!r}")

    def pairs(self) -> list[ServedPair]:
        """The served targets in run order, each a (stack, artifact) pair."""
        return served_pairs(self.serve, self.targets)

    def served_keys(self) -> list[str]:
        """Their names: stage names, results.json keys (ServedResult.key)."""
        return [p.key for p in self.pairs()]


class LoadSettings(NamedTuple):
    """[load] and [slo] as the load client takes them."""

    levels: list[int]  # closed-loop concurrency sweep
    closed: LoadConfig  # each sweep level (and `load --rate`)
    open_loop: LoadConfig  # each SLO trial: [slo] duration_s (its cap) over [load]; slo.trial_config
    slo: SloConfig


@dataclass
class RunConfig:
    """Everything one `deploy-compare run` needs, already validated.

    `load` and `bench-local` build their settings here too (their flags are overrides of
    the same tables), so the commands share one set of defaults and one validation.
    """

    profile: str  # "full" (the default), "quick" or "thorough"
    run: RunSection
    raw: dict  # the merged TOML, recorded in results.json as the settings used

    def section(self, name: str) -> dict:
        return copy.deepcopy(self.raw.get(name, {}))

    def artifacts_dir(self, model_name: str) -> Path:
        return Path(self.run.artifacts_dir) if self.run.artifacts_dir else Path("artifacts") / model_name

    def bench_config(self) -> BenchConfig:
        """[local] as a BenchConfig; [local.measure] overrides MeasureSettings (or .quick())."""
        from ..bench_local import BenchConfig, MeasureSettings

        table = self.section("local")
        table.pop("artifacts", None)  # which artifacts: local_artifacts(), read by the run's local stage
        measure = table.pop("measure", {})
        check_keys(measure, {f.name for f in fields(MeasureSettings)}, "[local.measure]")
        base = MeasureSettings.quick() if self.profile == "quick" else MeasureSettings()
        try:
            settings = dataclasses.replace(base, **measure)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[local.measure]: {exc}") from None
        for key in ("profiles", "server_threads", "edge_threads"):
            if key in table:
                table[key] = tuple(table[key])
        return build(BenchConfig, {**table, "settings": settings}, "[local]")

    def local_artifacts(self) -> list[str]:
        """[local] artifacts: the artifacts `run` benchmarks in-process ([] = every one the export
        verified), e.g. to leave a slow runtime out of a repeated run."""
        from ..exporters.pipeline import ARTIFACT_NAMES

        names = self.raw.get("local", {}).get("artifacts", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"[local] artifacts: a list of artifact names, got {names!r}")
        unknown = [n for n in names if n not in ARTIFACT_NAMES]
        if unknown:
            raise ConfigError(
                f"[local] artifacts: unknown {', '.join(unknown)}; the exports: {', '.join(ARTIFACT_NAMES)}"
            )
        return list(names)

    def load_settings(self) -> LoadSettings:
        from ..clients import LoadConfig, SloConfig

        load = self.section("load")
        # not LoadConfig fields: read by served.scale_out() / encodings() / batch_sizes() / batch_levels()
        for key in (*SCALE_OUT_KEYS, *WORKLOAD_KEYS, "encodings", "slo_encoding"):
            load.pop(key, None)
        levels = [int(c) for c in load.pop("concurrency")]
        if not levels or min(levels) < 1:
            raise ConfigError(f"[load] concurrency: levels must be integers >= 1, got {levels}")
        slo_table = self.section("slo")
        closed = build(LoadConfig, load, "[load]")
        # a trial's duration_s is its cap, its end the sequential rule's (slo.trial_config)
        trial_overrides = {k: slo_table.pop(k) for k in ("duration_s",) if k in slo_table}
        if trial_overrides:
            trial_overrides["max_duration_s"] = closed.warmup_s + trial_overrides["duration_s"]
        slo = build(SloConfig, slo_table, "[slo]")
        closed = dataclasses.replace(closed, slo_bound_ms=slo.p99_bound_ms)  # goodput: answered within it
        try:
            open_loop = dataclasses.replace(closed, **trial_overrides)
        except (TypeError, ValueError, ConfigError) as exc:
            raise ConfigError(f"[slo]: {exc}") from None
        return LoadSettings(levels, closed, open_loop, slo)

    def batch_sizes(self) -> list[int]:
        """[load] batch_sizes: samples per request, each a workload of its own (the first
        fills the headline sweep and SLO rows)."""
        sizes = self.raw.get("load", {}).get("batch_sizes", default("load", "batch_sizes"))
        if (
            not isinstance(sizes, list)
            or not sizes
            or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in sizes)
        ):
            raise ConfigError(f"[load] batch_sizes: a non-empty list of integers >= 1, got {sizes!r}")
        if len(set(sizes)) != len(sizes):
            raise ConfigError(f"[load] batch_sizes: each size once, got {sizes}")
        return list(sizes)

    def batch_levels(self) -> list[int]:
        """[load] batch_concurrency: closed-loop levels of the batch sizes after the first
        ([] = their SLO search only)."""
        levels = self.raw.get("load", {}).get("batch_concurrency", default("load", "batch_concurrency"))
        if not isinstance(levels, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in levels
        ):
            raise ConfigError(f"[load] batch_concurrency: a list of integers >= 1, got {levels!r}")
        return list(levels)

    def encodings(self) -> tuple[str, ...]:
        """[load] encodings: how each served target is loaded, in order (clients.encodings.ENCODINGS).
        The first gets the sweep and the SLO search; the others a sweep each. A target that does
        not speak one gets a SKIPPED cell for it, not an error."""
        from ..clients.encodings import ENCODINGS

        value = self.section("load").get("encodings", default("load", "encodings"))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[load] encodings must be a non-empty list of names, got {value!r}")
        unknown = [v for v in value if v not in ENCODINGS]
        if unknown:
            raise ConfigError(f"[load] encodings: unknown {', '.join(unknown)}; allowed: {', '.join(ENCODINGS)}")
        if len(set(value)) != len(value):
            raise ConfigError(f"[load] encodings lists one twice: {value}")
        return tuple(value)

    def slo_encoding(self) -> str:
        """[load] slo_encoding: "best" (each stack's highest closed-loop throughput among its
        encodings), "first" (the first of [load] encodings), or one of [load] encodings."""
        value = self.section("load").get("slo_encoding", default("load", "slo_encoding"))
        allowed = ("best", "first", *self.encodings())
        if value not in allowed:
            raise ConfigError(f"[load] slo_encoding: {value!r} is none of {', '.join(allowed)}")
        return str(value)

    def validate(self) -> None:
        """Build every area's typed config, so a bad value stops the command before any work
        ([tune] is checked by deploy.tune.tune_settings, which the pipeline calls beside this)."""
        from ..servers.registry import get

        self.bench_config()
        self.local_artifacts()
        self.load_settings()
        self.batch_sizes()
        self.batch_levels()
        self.encodings()
        self.slo_encoding()
        for kind in self.run.targets:
            build(get(kind).config_class, self.section(kind), f"[{kind}]")


PROFILE_TABLES = ("quick", "thorough")


def load_run_config(
    path: Path | None = None, quick: bool = False, overrides: dict | None = None, thorough: bool = False
) -> RunConfig:
    """Precedence, lowest first: defaults, default [quick] (with --quick) or [thorough] (with
    --thorough), the user's file, the user's own [quick] / [thorough] table, command-line overrides."""
    if quick and thorough:
        raise ConfigError("--quick and --thorough: choose one profile")
    chosen = "quick" if quick else ("thorough" if thorough else None)
    data = read_toml(DEFAULTS)
    profiles = {name: data.pop(name, {}) for name in PROFILE_TABLES}
    if chosen:
        data = deep_merge(data, profiles[chosen])
    if os.environ.get(BUSY_MACHINE_ENV):
        data["run"]["busy_machine"] = os.environ[BUSY_MACHINE_ENV]
    if path is not None:
        user = read_toml(Path(path))
        user_profiles = {name: user.pop(name, {}) for name in PROFILE_TABLES}
        check_keys(user, set(sections()), f"{path}")
        data = deep_merge(data, user)
        if chosen:
            data = deep_merge(data, user_profiles[chosen])
    if overrides:
        data = deep_merge(data, overrides)
    check_keys(data, set(sections()), "settings")
    run = build(RunSection, data.get("run", {}), "[run]")
    accuracy_budget_points(data)  # validated before any work, read again when the report renders
    cost_settings(data)  # the same: [cost] is read by the report
    from ..edge.hosts import edge_hosts

    edge_hosts(data)  # [edge] hosts: read by edge-run
    from .gate_settings import budget_settings

    budget_settings(data)  # [budget]: judged by `check` and shown in the report
    return RunConfig(profile=chosen or "full", run=run, raw=data)
