"""The serving-stack registry: one descriptor per stack, found in its folder under servers/.

A stack is a sub-package of deploy_compare.servers (servers/<stack>/) whose __init__ defines
`STACKS = (Stack(...), ...)` (one folder may register several: fastapi_service/ registers
the ONNX Runtime and the LiteRT targets). Its folder holds everything specific to it: the
descriptor, config.py, the native and Docker launchers, its encodings (request builders and
wire messages: encodings.py), its metrics reader and whatever else it alone needs; its
Dockerfile is Dockerfile.<stack> at the repository root. Nothing outside the folder names
the stack: everything else derives from these descriptors: the CLI's --target choices and
`serve` flags (serve_flags), the TOML tables and [run].targets, the results schema's target
enum, the report's labels, the served artifact and
encodings of the pipeline's targets (encoding_names, encoding_classes, encodings), the versions recorded
(native_versions, packages, env_versions), and which launcher class runs it natively or in
Docker. Adding a stack = one folder (+ Dockerfile.<stack> for Docker, + its tests, + its
table in deploy/default.toml, which is data).

Descriptors are plain data: launchers, encodings and availability probes are
"module:attribute" strings imported on first use, so reading the registry imports no
server code, no torch, no fastapi.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import ConfigError
from ..lazy import import_object


@dataclass(frozen=True)
class ServeFlag:
    """A `deploy-compare serve --<name> VALUE` flag a stack takes besides --set: it sets
    `field`, or the fields `convert(value)` returns (a flag meaning one thing on two stacks
    with different fields). Stacks that share a name share the flag; on another stack it is
    refused."""

    name: str  # "batch-size" -> --batch-size
    help: str  # what it sets on this stack
    field: str = ""
    type: type = int
    convert: Callable[[Any], dict[str, Any]] | None = None

    def fields(self, value: Any) -> dict[str, Any]:
        return self.convert(value) if self.convert else {self.field: value}


@dataclass(frozen=True)
class Stack:
    """One serving stack.

    name               target name: `serve --target`, [run].targets, the TOML table [<name>],
                       results.json "target"
    label              how reports name it
    artifact           the manifest artifact it serves by default, its own format (its layout/dtype
                       shape the requests)
    artifacts          every artifact it can serve, its own first ((): the own one alone); `[run]
                       serve` pairs a stack with any of them (the same runtime under several stacks)
    encoding_names     the encodings it speaks (clients.encodings.encoding_classes()); the first is used
    encoding_classes   its own encodings: name -> "module:Class" in its folder (encodings.py);
                       the KServe v2 ones are shared (clients.encodings.SHARED_ENCODINGS)
    encodings          encoding (clients.encodings.ENCODINGS: json, binary, grpc, ...) -> the
                       name of this stack's encoding of it; {} means {"json": encoding_names[0]}.
                       An encoding missing here is a SKIPPED cell, with encoding_reason()
    config_class       its typed config (validated dataclass with start_timeout_s, model_name,
                       to_dict)
    launchers          mode ("native" | "docker") -> "module:Class" of a servers.base.Launcher
    native_unavailable "module:function" -> None when it can run natively here, else why not
    docker_unavailable "module:function" -> None when its image can be built here, else why not
                       (checked after the engine answers; None: the engine is enough)
    threads_field      config field that gets the server's core count when cores are pinned
    max_server_cores   at most this many cores for the server (the edge-service path: 1): `run`
                       gives it that many of the server's cores, and the launcher pins it to
                       that many of those it may use (so `serve` does too)
    metrics            "module:function" (launcher) -> a servers.metrics.MetricsSource of the running
                       server's queue/compute counters, or a string saying why there is none
                       (None: the stack exposes no such metrics)
    maintenance        a maintenance risk of choosing the stack, with the date of the fact (the
                       report puts it beside a verdict that names the stack)
    effective          "module:function" (launcher) -> the settings the running server applied, as
                       results.json "effective_settings" records them (threads, workers, instances,
                       runtime options); None: none recorded
    mode_labels        a label per mode where the mode changes what is measured (Triton:
                       Python backend natively, onnxruntime backend in Docker)
    runs               one line for the README's stack table and --help: how it runs
    order              position among the targets (lower first)
    tunables           config fields the tune stage may vary (server batching, workers,
                       instances); a [tune.grids] setting naming any other field is refused
    tune_grid          the stack's own small grid: settings (field -> value, over its TOML
                       table) the tune stage tries besides the defaults, most promising first
    serve_flags        its own `serve` flags (ServeFlag) besides --set, --start-timeout, --base-image
    native_versions    "module:function" () -> the server runtime's versions when it runs natively
                       (results.json versions.server; in Docker the image says); None: not recorded
    packages           the Python packages of our environment it runs with natively (their
                       versions go to environment.json "packages")
    env_versions       "module:function" () -> the package versions of the separate environment it
                       runs from (environment.json "<name>_env"); None: it runs from ours
    """

    name: str
    label: str
    artifact: str
    encoding_names: tuple[str, ...]
    config_class: type
    launchers: dict[str, str]
    native_unavailable: str
    docker_unavailable: str | None = None
    threads_field: str | None = None
    max_server_cores: int | None = None
    mode_labels: dict[str, str] = field(default_factory=dict)
    metrics: str | None = None
    runs: str = ""
    order: int = 100
    tunables: tuple[str, ...] = ()
    tune_grid: tuple[dict[str, Any], ...] = ()
    encodings: dict[str, str] = field(default_factory=dict)
    # encoding -> why this stack does not speak it (shown in the SKIPPED cell instead of the default)
    encoding_gaps: dict[str, str] = field(default_factory=dict)
    # the gRPC metadata name that carries "Bearer <key>" (Triton: triton-grpc-protocol-<key>)
    grpc_key_metadata: str = "authorization"
    serve_flags: tuple[ServeFlag, ...] = ()
    encoding_classes: dict[str, str] = field(default_factory=dict)
    native_versions: str | None = None
    packages: tuple[str, ...] = ()
    env_versions: str | None = None
    artifacts: tuple[str, ...] = ()
    effective: str | None = None
    #: a maintenance risk a user picking this stack should know, with the date of the fact ("": none)
    maintenance: str = ""

    def __post_init__(self) -> None:
        if self.artifacts and self.artifacts[0] != self.artifact:
            raise ConfigError(f"stack {self.name!r}: artifacts must start with its own {self.artifact!r}")

    @property
    def servable(self) -> tuple[str, ...]:
        """The artifacts it can serve, its own first."""
        return self.artifacts or (self.artifact,)

    def check_artifact(self, artifact: str) -> None:
        """ConfigError when this stack cannot serve `artifact`."""
        if artifact not in self.servable:
            raise ConfigError(f"{self.label} cannot serve {artifact!r}; it serves: {', '.join(self.servable)}")

    @property
    def default_encoding(self) -> str:
        return self.encoding_names[0]

    def spoken_encodings(self) -> dict[str, str]:
        return dict(self.encodings) or {"json": self.default_encoding}

    def encoding_reason(self, encoding: str) -> str | None:
        """Why this stack is not measured with `encoding` (None: it speaks it)."""
        if encoding in self.spoken_encodings():
            return None
        return self.encoding_gaps.get(encoding) or (
            f"{self.label} does not speak the {encoding!r} encoding here "
            f"(it speaks: {', '.join(self.spoken_encodings())})"
        )

    def encoding_name(self, encoding: str) -> str:
        """This stack's encoding name for `encoding`; ConfigError when the stack does not speak it."""
        reason = self.encoding_reason(encoding)
        if reason is not None:
            raise ConfigError(reason)
        return self.spoken_encodings()[encoding]

    def label_for(self, mode: str | None) -> str:
        return self.mode_labels.get(mode or "", self.label)

    def native_reason(self) -> str | None:
        return import_object(self.native_unavailable)()

    def docker_reason(self, config: Any = None) -> str | None:
        """Why this stack cannot run in Docker here (None: it can); `config` is the stack's own
        (its base image, for instance), or None for its defaults."""
        if "docker" not in self.launchers:
            return f"{self.label} has no Docker launcher"
        return import_object(self.docker_unavailable)(config) if self.docker_unavailable else None

    def launcher_class(self, mode: str) -> Any:
        try:
            return import_object(self.launchers[mode])
        except KeyError:
            raise ConfigError(f"{self.label} has no {mode} launcher; it has: {', '.join(self.launchers)}") from None

    def default_config(self) -> Any:
        return self.config_class()

    @property
    def takes_base_image(self) -> bool:
        """It runs in Docker and its config names the image its Dockerfile builds FROM."""
        return "docker" in self.launchers and "base_image" in getattr(self.config_class, "__dataclass_fields__", {})


@cache
def _discover() -> dict[str, Stack]:
    package = importlib.import_module(__package__ or "deploy_compare.servers")
    found: list[Stack] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.extend(getattr(module, "STACKS", ()))
    found.sort(key=lambda s: (s.order, s.name))
    stacks: dict[str, Stack] = {}
    for stack in found:
        if stack.name in stacks:
            raise ConfigError(f"serving stack {stack.name!r} is registered twice")
        stacks[stack.name] = stack
    return stacks


def stacks() -> dict[str, Stack]:
    """name -> descriptor, in target order."""
    return dict(_discover())


def names() -> tuple[str, ...]:
    return tuple(_discover())


def get(name: str) -> Stack:
    try:
        return _discover()[name]
    except KeyError:
        raise ConfigError(f"unknown serving stack {name!r}; allowed: {', '.join(names())}") from None


def base_image_stacks() -> tuple[str, ...]:
    """The stacks whose Docker base image a flag may set (`run --<name>-base-image`, `serve --base-image`)."""
    return tuple(name for name, stack in _discover().items() if stack.takes_base_image)


def serve_flags() -> dict[str, list[tuple[Stack, ServeFlag]]]:
    """flag name -> the stacks that take it (with each one's meaning), in target order."""
    flags: dict[str, list[tuple[Stack, ServeFlag]]] = {}
    for stack in _discover().values():
        for flag in stack.serve_flags:
            flags.setdefault(flag.name, []).append((stack, flag))
    return flags


def labels() -> dict[str, str]:
    return {s.name: s.label for s in _discover().values()}
