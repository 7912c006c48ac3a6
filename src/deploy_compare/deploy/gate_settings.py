"""Budgets: the limits a run must hold (`deploy-compare check RUN --budget budget.toml`, or [budget]).

One format for the budget file and the config's [budget] table, validated up front (an
unknown key or a wrong type is a ConfigError naming it):

    [[budget.artifact]]          # per device, per artifact: every matching row must hold
    device = "local"             # "local" (this machine's in-process rows), an ingested device label, or "*"
    artifact = "tflite_int8"     # a manifest artifact name, or "*"
    profile = "edge"             # local rows: "server" or "edge" (default: both)
    threads = 1                  # default: every thread count measured
    max_p50_ms = 5.0             # end-to-end single-request latency
    max_p99_ms = 8.0
    max_invoke_p50_ms = 2.0      # invoke-only (TFLite rows), as benchmark_model times
    max_invoke_p99_ms = 4.0
    max_peak_memory_mib = 64     # peak resident memory of the measurement
    max_file_size_kib = 512
    max_accuracy_drop_points = 1.0   # points below the PyTorch model (accuracy, else top-1 agreement)

    [[budget.served]]            # per served target
    target = "fastapi_onnx"      # a stack's registry name, or "*"
    at_rate_rps = 100.0          # with max_p99_ms: p99 (failures counted) of the SLO trials at this rate
    max_p99_ms = 20.0
    min_slo_rate_rps = 200.0     # the SLO search's rate
    max_cost_per_million_cpu = 0.05           # [cost]: measured server CPU at the SLO rate
    max_cost_per_million_provisioned = 0.50   # [cost]: the server's cores at the SLO rate
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bench_local.result import DEVICE_LABEL_PATTERN, PROFILES
from ..errors import ConfigError

#: limit key -> what it bounds (a line of the check's output)
ARTIFACT_LIMITS = {
    "max_p50_ms": "p50 ms",
    "max_p99_ms": "p99 ms",
    "max_invoke_p50_ms": "invoke p50 ms",
    "max_invoke_p99_ms": "invoke p99 ms",
    "max_peak_memory_mib": "peak memory MiB",
    "max_file_size_kib": "file size KiB",
    "max_accuracy_drop_points": "accuracy drop points",
}
SERVED_LIMITS = {
    "max_p99_ms": "p99 ms",
    "min_slo_rate_rps": "SLO rate req/s",
    "max_cost_per_million_cpu": "cost per 1M (measured CPU)",
    "max_cost_per_million_provisioned": "cost per 1M (provisioned cores)",
}
ARTIFACT_SELECTORS = ("device", "artifact", "profile", "threads")
SERVED_SELECTORS = ("target", "at_rate_rps")


@dataclass(frozen=True)
class ArtifactBudget:
    artifact: str
    device: str = "local"
    profile: str | None = None
    threads: int | None = None
    limits: tuple[tuple[str, float], ...] = ()

    def selector(self) -> str:
        parts = [f"{self.device} {self.artifact}"]
        parts += [self.profile] if self.profile else []
        parts += [f"{self.threads} thread(s)"] if self.threads else []
        return ", ".join(parts)


@dataclass(frozen=True)
class ServedBudget:
    target: str
    at_rate_rps: float | None = None
    limits: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Budget:
    artifacts: tuple[ArtifactBudget, ...] = ()
    served: tuple[ServedBudget, ...] = ()


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{where}: a number >= {minimum:g}, got {value!r}")
    return float(value)


def _name(value: Any, where: str, allowed: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: a non-empty string, got {value!r}")
    if allowed is not None and value != "*" and value not in allowed:
        raise ConfigError(f"{where}: unknown {value!r}; allowed: *, {', '.join(allowed)}")
    return value


def _limits(entry: dict[str, Any], allowed: dict[str, str], where: str) -> tuple[tuple[str, float], ...]:
    limits = tuple((key, _number(entry[key], f"{where} {key}")) for key in allowed if key in entry)
    if not limits:
        raise ConfigError(f"{where}: no limit set; set one or more of {', '.join(allowed)}")
    return limits


def _entries(table: dict[str, Any], key: str, allowed: set[str], source: str) -> list[tuple[str, dict[str, Any]]]:
    entries = table.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{source}[budget] {key}: a list of [[budget.{key}]] tables, got {entries!r}")
    out = []
    for i, entry in enumerate(entries, 1):
        here = f"{source}[[budget.{key}]] #{i}"
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise ConfigError(f"{here}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        out.append((here, entry))
    return out


def _artifact_budget(where: str, entry: dict[str, Any]) -> ArtifactBudget:
    from ..exporters.pipeline import ARTIFACT_NAMES

    if "artifact" not in entry:
        raise ConfigError(f'{where}: artifact = "NAME" (or "*") is required')
    device = _name(entry.get("device", "local"), f"{where} device")
    if device != "*" and not DEVICE_LABEL_PATTERN.match(device):
        raise ConfigError(f"{where} device: {device!r} is not a device label")
    profile = entry.get("profile")
    if profile is not None:
        _name(profile, f"{where} profile", PROFILES)
    threads = entry.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{where} threads: an integer >= 1, got {threads!r}")
    return ArtifactBudget(
        artifact=_name(entry["artifact"], f"{where} artifact", tuple(ARTIFACT_NAMES)),
        device=device,
        profile=profile,
        threads=threads,
        limits=_limits(entry, ARTIFACT_LIMITS, where),
    )


def _served_budget(where: str, entry: dict[str, Any]) -> ServedBudget:
    from ..servers.registry import names

    if "target" not in entry:
        raise ConfigError(f'{where}: target = "STACK" (or "*") is required')
    rate = entry.get("at_rate_rps")
    if ("max_p99_ms" in entry) != (rate is not None):
        raise ConfigError(f"{where}: max_p99_ms and at_rate_rps go together (p99 at that offered rate)")
    return ServedBudget(
        target=_name(entry["target"], f"{where} target", tuple(names())),
        at_rate_rps=None if rate is None else _number(rate, f"{where} at_rate_rps", minimum=1e-9),
        limits=_limits(entry, SERVED_LIMITS, where),
    )


def parse_budget(table: Any, source: str = "") -> Budget:
    """A Budget from a [budget] table (ConfigError naming the key when anything is off);
    `source` ("FILE: ") starts each message."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}[budget] must be a table")
    unknown = sorted(set(table) - {"artifact", "served"})
    if unknown:
        raise ConfigError(f"{source}[budget]: unknown key(s) {', '.join(unknown)}; allowed: artifact, served")
    artifacts = _entries(table, "artifact", {*ARTIFACT_SELECTORS, *ARTIFACT_LIMITS}, source)
    served = _entries(table, "served", {*SERVED_SELECTORS, *SERVED_LIMITS}, source)
    if not artifacts and not served:
        raise ConfigError(f"{source}[budget]: no budget in it; add [[budget.artifact]] or [[budget.served]] tables")
    return Budget(
        artifacts=tuple(_artifact_budget(w, e) for w, e in artifacts),
        served=tuple(_served_budget(w, e) for w, e in served),
    )


def read_budget_file(path: Path) -> dict[str, Any]:
    """The [budget] table of a budget file (validated: parse_budget), as written."""
    from ..defaults import read_toml

    data = read_toml(Path(path))
    unknown = sorted(set(data) - {"budget"})
    if unknown or "budget" not in data:
        raise ConfigError(f"{path}: a budget file holds one [budget] table, got {', '.join(unknown) or 'none'}")
    parse_budget(data["budget"], f"{path}: ")
    return data["budget"]


def budget_settings(settings: Any) -> Budget | None:
    """The config's [budget] table (None when there is none); validated by load_run_config."""
    table = settings.get("budget") if isinstance(settings, dict) else None
    return None if table is None else parse_budget(table)
