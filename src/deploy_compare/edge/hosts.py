"""Edge devices reached over SSH: `edge-run --ssh user@host[:port]` and the config's [edge] hosts.

One typed description (EdgeHost) for both: a host named in the config is the same record
as one given on the command line, and flags override its fields. Validation lives here:

    [edge.hosts.pi4]
    ssh = "pi@192.168.1.20:22"       # user@host[:port]; the user's own keys and known_hosts
    python = "python3"               # the device's Python (>= 3.9, with numpy + a TFLite runtime)
    ssh_options = ["IdentityFile=~/.ssh/pi"]   # passed to ssh and scp as -o KEY=VALUE
    threads = [1, 4]                 # run_edge.py --threads
    emulator = ""                    # run_edge.py --emulator: the device's Python runs under one
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..bench_local.result import DEVICE_LABEL_PATTERN
from ..errors import ConfigError

#: user@host[:port]; an IPv6 address goes in brackets: user@[::1]:2222
_TARGET = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]+))?$"
)
_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*=.+$")
HOST_KEYS = ("ssh", "python", "ssh_options", "threads", "emulator")


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        """What ssh and scp take (the port goes in -p / -P)."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        return self.destination + (f":{self.port}" if self.port else "")


def parse_target(text: Any, where: str = "--ssh") -> SshTarget:
    match = _TARGET.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{where}: expected user@host[:port], got {text!r}")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: port must be in 1..65535, got {port}")
    host = match["host"].strip("[]")
    if host.startswith("-"):  # never an ssh option
        raise ConfigError(f"{where}: a host name cannot start with '-', got {text!r}")
    return SshTarget(host=host, user=match["user"], port=port)


@dataclass(frozen=True)
class EdgeHost:
    """One device: where it is, its Python, and how run_edge.py runs there."""

    label: str  # the device label of its results (becomes runs/<run>/edge/<label>.json)
    target: SshTarget
    python: str = "python3"
    ssh_options: tuple[str, ...] = ()
    threads: tuple[int, ...] = (1,)
    emulator: str = ""


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: a list of non-empty strings, got {value!r}")
    return tuple(value)


def check_options(options: Any, where: str) -> tuple[str, ...]:
    values = _strings(options, where)
    bad = [o for o in values if not _OPTION.match(o)]
    if bad:
        raise ConfigError(f"{where}: each option is KEY=VALUE (as ssh -o takes it), got {', '.join(map(repr, bad))}")
    return values


def check_threads(threads: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(threads, list)
        or not threads
        or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in threads)
    ):
        raise ConfigError(f"{where}: a non-empty list of integers >= 1, got {threads!r}")
    return tuple(threads)


def check_label(label: Any, where: str) -> str:
    if not isinstance(label, str) or not DEVICE_LABEL_PATTERN.match(label):
        raise ConfigError(f"{where}: {label!r} is not a device label (1-64 letters, digits, '.', '_' or '-')")
    return label


def host_from_table(name: str, table: Any) -> EdgeHost:
    where = f"[edge.hosts.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(HOST_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(HOST_KEYS)}")
    if "ssh" not in table:
        raise ConfigError(f'{where}: ssh = "user@host[:port]" is required')
    python = table.get("python", "python3")
    emulator = table.get("emulator", "")
    for key, value in (("python", python), ("emulator", emulator)):
        if not isinstance(value, str) or (key == "python" and not value):
            raise ConfigError(f"{where} {key}: a string, got {value!r}")
    return EdgeHost(
        label=check_label(name, where),
        target=parse_target(table["ssh"], f"{where} ssh"),
        python=python,
        ssh_options=check_options(table.get("ssh_options", []), f"{where} ssh_options"),
        threads=check_threads(table.get("threads", [1]), f"{where} threads"),
        emulator=emulator,
    )


def edge_hosts(settings: Any) -> dict[str, EdgeHost]:
    """The [edge] table of a settings file: {label: EdgeHost} (ConfigError naming the key)."""
    table = settings.get("edge", {}) if isinstance(settings, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError("[edge] must be a table")
    unknown = sorted(set(table) - {"hosts"})
    if unknown:
        raise ConfigError(f"[edge]: unknown key(s) {', '.join(unknown)}; allowed: hosts")
    hosts = table.get("hosts", {})
    if not isinstance(hosts, dict):
        raise ConfigError("[edge] hosts must be a table of [edge.hosts.<label>] tables")
    return {name: host_from_table(name, host) for name, host in hosts.items()}
