"""The tune stage: each stack at its defaults and at a few server settings, under the same SLO.

Stacks are compared tuned vs tuned (perf_analyzer / Model Analyzer sweep the same knobs):
for every setting of a stack's grid the server is started with that setting over its TOML
table, the open-loop SLO search runs at [tune] batch_size samples per request, and the
server stops. The best setting is the one with the highest rate whose p99 met the bound;
the defaults take part (a grid that buys nothing says so). The knobs and the default grid
are each stack's own (servers/<stack>/__init__.py: Stack.tunables, Stack.tune_grid);
[tune.grids] replaces a stack's grid.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..defaults import default
from ..errors import ConfigError, DeployCompareError, message_line
from .config import RunConfig, build, deep_merge
from .results import ServedResult

Setting = dict[str, Any]


@dataclass(frozen=True)
class TuneSettings:
    """[tune]

    enabled       run the tune stage after each stack's own measurements
    batch_size    samples per request in the tuning trials (server batching is what merges
                  single-sample requests, so 1 is the usual choice)
    max_settings  at most this many settings per stack besides the defaults (the grid's first)
    grids         stack -> list of settings replacing that stack's own grid
    """

    enabled: bool = default("tune", "enabled")
    batch_size: int = default("tune", "batch_size")
    max_settings: int = default("tune", "max_settings")
    grids: dict[str, list[Setting]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"enabled must be true or false, got {self.enabled!r}")
        for name in ("batch_size", "max_settings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.grids, dict):
            raise ConfigError(f"grids must be a table of stack = [settings], got {self.grids!r}")


def setting_label(setting: Setting) -> str:
    """`workers=2, batch_size=8`, or `defaults` for the empty setting."""
    if not setting:
        return "defaults"
    return ", ".join(f"{k}={_value(v)}" for k, v in setting.items())


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)


def tune_settings(config: RunConfig) -> TuneSettings:
    """[tune] validated, every grid checked against its stack (knobs and a valid config)."""
    from ..servers.registry import names

    table = config.section("tune")
    settings: TuneSettings = build(TuneSettings, table, "[tune]")
    for kind, grid in settings.grids.items():
        if kind not in names():
            raise ConfigError(f"[tune.grids]: unknown stack {kind!r}; allowed: {', '.join(names())}")
        if not isinstance(grid, list):
            raise ConfigError(f"[tune.grids] {kind}: a list of settings like [{{workers = 2}}], got {grid!r}")
    for kind in config.run.targets:
        for setting in grid_for(kind, config, settings):
            check_setting(kind, setting, config)
    return settings


def grid_for(kind: str, config: RunConfig, settings: TuneSettings) -> list[Setting]:
    """The settings tried for `kind` besides its defaults: [tune.grids] or the stack's own."""
    from ..servers.registry import get

    grid = settings.grids.get(kind)
    if grid is None:
        grid = [dict(s) for s in get(kind).tune_grid]
    return list(grid)[: settings.max_settings]


def check_setting(kind: str, setting: Any, config: RunConfig) -> None:
    """A setting names only the stack's tunables, changes something, and makes a valid config."""
    from ..servers.registry import get

    stack = get(kind)
    where = f"[tune.grids] {kind}"
    if not isinstance(setting, dict):
        raise ConfigError(f"{where}: each setting is a table like {{workers = 2}}, got {setting!r}")
    if not setting:
        raise ConfigError(f"{where}: an empty setting is the defaults, which are always measured")
    if not stack.tunables:
        raise ConfigError(f"{where}: {stack.label} has no tunable settings")
    unknown = sorted(set(setting) - set(stack.tunables))
    if unknown:
        raise ConfigError(
            f"{where}: {', '.join(unknown)} cannot be tuned; {stack.label}'s knobs: {', '.join(stack.tunables)}"
        )
    build(stack.config_class, {**config.section(kind), **setting}, f"{where} {setting_label(setting)}")


def variant(config: RunConfig, kind: str, setting: Setting, batch_size: int, encoding: str | None = None) -> RunConfig:
    """The run's settings with `setting` over the stack's table, one request batch size and one
    encoding (the served stage's own, else [load] encodings' first): a trial is an SLO search."""
    load = {"batch_sizes": [batch_size], "encodings": [encoding or config.encodings()[0]]}
    raw = deep_merge(config.raw, {kind: setting, "load": load})
    return dataclasses.replace(config, raw=raw)


def _slo_at(result: ServedResult, config: RunConfig, batch_size: int) -> dict | None:
    """The served stage's own SLO search at this batch size, if it ran one."""
    sizes = config.batch_sizes()
    if sizes and sizes[0] == batch_size:
        return result.slo
    for entry in result.batches:
        if entry.get("batch_size") == batch_size:
            return entry.get("slo")
    return None


def _row(setting: Setting, search: dict | None, batch_size: int, **extra: Any) -> dict[str, Any]:
    rate = (search or {}).get("max_rate_rps")
    return {
        "setting": setting,
        "label": setting_label(setting),
        "max_rate_rps": rate,
        "max_rate_samples_per_s": None if rate is None else rate * batch_size,
        # a search stopped by the client: the rate is a lower bound for the server
        "limited_by_client": bool((search or {}).get("limited_by_client")),
        **extra,
    }


def tune_target(
    kind: str,
    config: RunConfig,
    settings: TuneSettings,
    manifest_dir: Path,
    run_dir: Path,
    plan: Any,
    result: ServedResult,
    save: Callable[[], None],
    progress: Any,
) -> None:
    """Fill result.tuning: the defaults, each setting's SLO search, the best found.

    A setting whose server fails (will not start, runs out of memory) is a FAILED trial
    with its reason; the other settings still run. Ctrl-C propagates.
    """
    grid = grid_for(kind, config, settings)
    batch = settings.batch_size
    slo_cfg = config.load_settings().slo
    tuning: dict[str, Any] = {
        "batch_size": batch,
        "p99_bound_ms": slo_cfg.p99_bound_ms,
        "default": None,
        "trials": [],
        "best": None,
        "seconds": None,
    }
    result.tuning = tuning
    started = time.monotonic()
    todo: list[Setting] = list(grid)
    default_slo = _slo_at(result, config, batch)
    if default_slo is not None:
        tuning["default"] = _row({}, default_slo, batch, server_config=result.server_config, source="served stage")
    elif grid:
        todo.insert(0, {})  # the defaults at this batch size were not measured yet
    if not grid:
        tuning["note"] = "no tunable settings: this stack's configuration is fixed"
        tuning["best"] = best_of(tuning)
        progress.line(f"tune {kind}: nothing to tune ({tuning['note']})")
        save()
        return
    per_trial = None
    for number, setting in enumerate(todo, 1):
        left = "" if per_trial is None else f", about {per_trial * (len(todo) - number + 1) / 60:.1f} min left"
        progress.line(f"tune {kind}: setting {number}/{len(todo)}: {setting_label(setting)}{left}")
        row = _trial(
            kind,
            variant(config, kind, setting, batch, result.encoding),
            setting,
            batch,
            result.artifact,
            (manifest_dir, run_dir, plan, save),
            progress,
            tag=f"tune {number}/{len(todo)}",
        )
        if setting:
            tuning["trials"].append(row)
        else:
            tuning["default"] = {**row, "source": "tune stage"}
        per_trial = (time.monotonic() - started) / number
        save()
    tuning["best"] = best_of(tuning)
    tuning["seconds"] = round(time.monotonic() - started, 1)
    save()
    progress.line(f"tune {kind}: best {_best_words(tuning['best'], slo_cfg.p99_bound_ms)}")


def _trial(
    kind: str,
    config: RunConfig,
    setting: Setting,
    batch: int,
    artifact: str | None,
    where: tuple[Path, Path, Any, Callable[[], None]],
    progress: Any,
    tag: str,
) -> dict[str, Any]:
    """One setting's served stage (concurrency 1 and the SLO search: sweep=False) as a row;
    `where` is run_served_target's (manifest_dir, run_dir, plan, save)."""
    from .served import run_served_target

    manifest_dir, run_dir, plan, save = where
    trial = ServedResult(target=kind, status="OK", artifact=artifact)
    try:
        run_served_target(kind, config, manifest_dir, run_dir, plan, trial, save, _Tagged(progress, tag), sweep=False)
    except Exception as exc:  # noqa: BLE001 - one setting failing must not lose the others
        trial.status, trial.reason = "FAILED", message_line(exc)
        if not isinstance(exc, DeployCompareError):
            trial.reason = f"{type(exc).__name__}: {trial.reason}"
        progress.line(f"tune {kind}: {setting_label(setting)}: FAILED: {trial.reason}")
    return _row(
        setting,
        trial.slo,
        batch,
        status=trial.status,
        reason=trial.reason,
        server_config=trial.server_config,
        startup_s=trial.startup_s,
        log=trial.log,
        slo=trial.slo,
    )


def _best_words(best: dict[str, Any] | None, bound_ms: float) -> str:
    if not best:
        return f"none: no setting met p99 <= {bound_ms:g} ms"
    gain = best.get("gain_vs_default")
    return f"{best['label']}: {best['max_rate_rps']:.1f} req/s under p99 <= {bound_ms:g} ms" + (
        f" ({gain:.2f}x the defaults)"
        if best["setting"] and gain
        else (" (the defaults stay best)" if not best["setting"] else "")
    )


def best_of(tuning: dict[str, Any]) -> dict[str, Any] | None:
    """The defaults or the setting with the highest passing rate (the defaults win a tie)."""
    default = tuning.get("default") or {}
    candidates = [default] + [t for t in tuning.get("trials", []) if t.get("status") == "OK"]
    rated = [c for c in candidates if c.get("max_rate_rps") is not None]
    if not rated:
        return None
    best = max(rated, key=lambda c: c["max_rate_rps"])  # max keeps the first of equals: the defaults
    base = default.get("max_rate_rps")
    return {
        "setting": best["setting"],
        "label": best["label"],
        "max_rate_rps": best["max_rate_rps"],
        "max_rate_samples_per_s": best["max_rate_samples_per_s"],
        "gain_vs_default": (best["max_rate_rps"] / base) if base else None,
    }


class _Tagged:
    """The run's ProgressLog with each line of a tuning trial marked as such."""

    def __init__(self, progress: Any, tag: str) -> None:
        self.progress, self.tag = progress, tag

    def line(self, message: str) -> None:
        self.progress.line(f"[{self.tag}] {message}")

    def load_callback(self, label: str) -> Callable[[Any], None]:
        callback: Callable[[Any], None] = self.progress.load_callback(f"[{self.tag}] {label}")
        return callback
