"""What every stack's config shares: the server MODES, the ServerConfig interface every
stack's config meets (each stack's own typed config lives in servers/<stack>/config.py),
and the validation helpers those configs use.

Messages name the field and the allowed values so the CLI can print them as one line.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import ConfigError

MODES = ("auto", "docker", "native")


class ServerConfig(Protocol):
    """What a launcher reads from any stack's config (the rest is the stack's own)."""

    start_timeout_s: float
    model_name: str | None

    def to_dict(self) -> dict[str, Any]: ...


def _positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _positive_float(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{owner}.{name} must be a number > 0, got {value!r}")


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    allowed = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return dict(d)


def _check_model_name(owner: str, name: str | None) -> None:
    if name is None:
        return
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ConfigError(f"{owner}.model_name must be letters, digits, '_' or '-', got {name!r}")


def _check_image(owner: str, image: str | None) -> None:
    if image is None:
        return
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise ConfigError(f"{owner}.base_image must be an image reference like repo/name:tag, got {image!r}")


def safe_model_name(name: str) -> str:
    """A manifest model name made safe for URLs, archive names and container paths."""
    cleaned = "".join(c if (c.isalnum() or c in "_-") else "_" for c in name).strip("_-")
    return cleaned or "model"


def default_config(kind: str) -> ServerConfig:
    from .registry import get

    config: ServerConfig = get(kind).default_config()
    return config


def check_kind(kind: str) -> None:
    from .registry import get

    get(kind)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"server mode must be one of {', '.join(MODES)}, got {mode!r}")


# Shared with the stacks' own configs (servers/<stack>/config.py).
positive_int = _positive_int
positive_float = _positive_float
check_model_name = _check_model_name
known_fields = _known
check_image = _check_image
