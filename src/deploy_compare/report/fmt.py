"""Defensive value access and number formatting shared by every view.

Result dictionaries come from several areas and several schema ages: a missing key,
None, or a value of the wrong type renders as "-" and never raises.
"""

from __future__ import annotations

import math
from typing import Any

from ..repeats import finite

DASH = "-"


def get(d: Any, *keys: str) -> Any:
    """d[k1][k2]...; None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def ascending(value: float | None) -> float:
    """A sort key for a figure that may be missing: missing figures sort last."""
    return math.inf if value is None else value


def getf(d: Any, *keys: str) -> float | None:
    """A finite float at d[k1][k2]..., else None (bools are not numbers here)."""
    return finite(get(d, *keys))


def ms(value: Any) -> str:
    """A latency in milliseconds with about three significant digits."""
    v = getf({"v": value}, "v")
    if v is None:
        return DASH
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    if v == 0:
        return "0"
    # Sub-millisecond in-process figures keep three significant digits (0.00618, not 0.006).
    return f"{v:.{2 - math.floor(math.log10(abs(v)))}f}"


def interval(ci: tuple[float | None, float | None] | None, samples: Any = None, what: str = "") -> str:
    """ " [3.9-4.6]" / " [3.9-?] (n=212: too few samples to bound p99)"; "" without an interval."""
    if ci is None:
        return ""
    low, high = ci
    out = f" [{DASH if low is None else ms(low)}-{'?' if high is None else ms(high)}]".replace(f"[{DASH}-", "[?-")
    if (low is None or high is None) and isinstance(samples, int) and samples > 0:
        out += f" (n={samples}: too few samples to bound {what or 'it'})"
    return out


def num(value: Any, digits: int = 1) -> str:
    v = getf({"v": value}, "v")
    return DASH if v is None else f"{v:,.{digits}f}"


def pct(share: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage."""
    v = getf({"v": share}, "v")
    return DASH if v is None else f"{v * 100:.{digits}f}%"


def kib(size_bytes: Any) -> str:
    v = getf({"v": size_bytes}, "v")
    return DASH if v is None else f"{v / 1024:,.1f}"


def text(value: Any) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) if value else DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def cores(value: Any) -> str:
    """A core list as "0-2,5" style text."""
    if not isinstance(value, (list, tuple)) or not value:
        return DASH
    try:
        nums = sorted(int(v) for v in value)
    except (TypeError, ValueError):
        return text(value)
    parts, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


def seconds(value: Any) -> str:
    v = getf({"v": value}, "v")
    if v is None:
        return DASH
    if v >= 120:
        return f"{v / 60:.1f} min ({v:.0f} s)"
    return f"{v:.1f} s"


def ratio(a: float | None, b: float | None) -> str:
    """How many times b is of a, e.g. "12.3x"."""
    if a is None or b is None or a <= 0:
        return DASH
    r = b / a
    return f"{r:.1f}x" if r < 10 else f"{r:,.0f}x"
