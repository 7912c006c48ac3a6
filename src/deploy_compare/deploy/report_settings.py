"""The report's settings ([report], [cost]), read from a run's settings.

They sit with the run's settings (deploy/config.py validates them before any work) and the
report reads them when it renders: the pipeline lies below the report and never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..defaults import default
from ..errors import ConfigError

DEFAULT_BUDGET_POINTS = 1.0
# AWS EC2 c7i.large (2 vCPU, Linux, on-demand, us-east-1): $0.08925 per hour = $0.044625 per vCPU-hour.
DEFAULT_PRICE_PER_VCPU_HOUR: float = default("cost", "price_per_vcpu_hour")  # default.toml [cost]
DEFAULT_PRICE_SOURCE = "AWS EC2 c7i.large on-demand, us-east-1, Linux: $0.08925/h for 2 vCPU (public list price)"


def _table(settings: Any, name: str) -> dict[str, Any]:
    table = settings.get(name) if isinstance(settings, dict) else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    return table


def accuracy_budget_points(settings: Any) -> float:
    """report.edge_accuracy_budget_points from the run's settings (ConfigError when invalid)."""
    value = _table(settings, "report").get("edge_accuracy_budget_points")
    if value is None:
        return DEFAULT_BUDGET_POINTS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ConfigError(f"report.edge_accuracy_budget_points must be a number in [0, 100], got {value!r}")
    return float(value)


def min_effect(settings: Any) -> float:
    """report.min_effect: the smallest relative gap the verdicts and `diff` call a difference
    (below it two figures are "tied" even when their intervals are apart)."""
    value = _table(settings, "report").get("min_effect", default("report", "min_effect"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"report.min_effect must be a share in [0, 1) (0.05 = 5%), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CostSettings:
    price_per_vcpu_hour: float = DEFAULT_PRICE_PER_VCPU_HOUR
    price_source: str = DEFAULT_PRICE_SOURCE
    currency: str = "USD"


def cost_settings(settings: Any) -> CostSettings:
    """[cost] from a run's settings (ConfigError naming the key when invalid)."""
    table = _table(settings, "cost")
    allowed = {"price_per_vcpu_hour", "price_source", "currency"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"[cost]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    price = table.get("price_per_vcpu_hour", DEFAULT_PRICE_PER_VCPU_HOUR)
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price <= 0:
        raise ConfigError(f"cost.price_per_vcpu_hour must be a number > 0, got {price!r}")
    source = table.get("price_source")
    if source is None:
        source = DEFAULT_PRICE_SOURCE if price == DEFAULT_PRICE_PER_VCPU_HOUR else "set in [cost]"
    for key, value in (("price_source", source), ("currency", table.get("currency", "USD"))):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"cost.{key} must be a non-empty string, got {value!r}")
    return CostSettings(float(price), source, table.get("currency", "USD"))
