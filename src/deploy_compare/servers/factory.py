"""make_launcher: pick Docker or native for a serving stack, or say why neither can run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ImageBuildError, ServerUnavailable
from ..lazy import import_object
from .base import Launcher
from .config import ServerConfig, check_mode, default_config
from .model_spec import served_model
from .registry import get as get_stack

if TYPE_CHECKING:
    from .docker_base import DockerLauncher


def native_unavailable_reason(kind: str) -> str | None:
    return get_stack(kind).native_reason()


def docker_unavailable_reason() -> str | None:
    from .docker_base import docker_unavailable_reason as reason

    return reason()


def stack_docker_reason(kind: str, config: ServerConfig | None = None) -> str | None:
    """Beyond an engine: the stack's own Docker precondition (e.g. its base image is here)."""
    return get_stack(kind).docker_reason(config)


def resolve_mode(kind: str, mode: str, config: ServerConfig | None = None) -> str:
    """ "docker" or "native" for this machine, or ServerUnavailable with the reason."""
    return _resolve(kind, mode, config)[0]


def _resolve(kind: str, mode: str, config: ServerConfig | None = None) -> tuple[str, str | None]:
    """(mode, note): the note says why auto mode ran natively although an engine answers."""
    check_mode(mode)
    label = get_stack(kind).label
    if mode == "docker":
        reason = docker_unavailable_reason() or stack_docker_reason(kind, config)
        if reason:
            raise ServerUnavailable(f"{label}: {reason}")
        return "docker", None
    if mode == "native":
        reason = native_unavailable_reason(kind)
        if reason:
            raise ServerUnavailable(f"{label}: {reason}")
        return "native", None
    docker_reason = docker_unavailable_reason()
    stack_reason = None if docker_reason else stack_docker_reason(kind, config)
    if docker_reason is None and stack_reason is None:
        return "docker", None
    native_reason = native_unavailable_reason(kind)
    if native_reason is None:
        # Say why only for a stack that could have run in Docker (its image is missing, say).
        could_dock = stack_reason and "docker" in get_stack(kind).launchers
        return "native", (f"docker: {stack_reason}; ran natively" if could_dock else None)
    if stack_reason:
        raise ServerUnavailable(f"{label}: Docker: {stack_reason}; native: {native_reason}")
    raise ServerUnavailable(f"{label}: no Docker engine and {native_reason} (docker: {docker_reason})")


def make_launcher(
    kind: str,
    mode: str = "auto",
    *,
    manifest_dir: Path,
    run_dir: Path,
    config: ServerConfig | None = None,
    docker_client: Any = None,
    artifact: str | None = None,
) -> Launcher:
    """A launcher for the stack `kind` (registry names) in `mode` ("auto" | "docker" | "native").

    Reads the manifest (and checks the artifact's sha256) and builds a Docker image now (the
    one place it is built: the build is timed apart from start-to-healthy, and in auto mode
    its outcome picks Docker or native); starts nothing until start()/`with`. Raises
    ServerUnavailable (-> SKIPPED) when the mode cannot run here, ImageBuildError when
    `--server-mode docker` cannot build its image,
    ConfigError for a config of the wrong kind, ManifestError/ArtifactError for a bad
    manifest. `docker_client` injects a client (tests); it also skips the engine probe.
    `artifact`: one the stack can serve (Stack.servable); None: its own.
    """
    stack = get_stack(kind)
    check_mode(mode)
    stack.check_artifact(artifact or stack.artifact)  # before any probe or build
    if config is None:
        config = default_config(kind)
    expected = stack.config_class
    if not isinstance(config, expected):
        raise ConfigError(f"{kind} needs a {expected.__name__}, got {type(config).__name__}")
    note = None
    if docker_client is not None and mode in ("auto", "docker"):
        chosen = "docker"
    else:
        chosen, note = _resolve(kind, mode, config)
    model = served_model(kind, Path(manifest_dir).resolve(), config.model_name, artifact)
    cls = stack.launcher_class(chosen)
    if chosen == "docker":
        launcher = cls(model, Path(run_dir), config, client=docker_client)
        if docker_client is not None:  # an injected client: argument building only, nothing is built
            return launcher
        return built_or_native(kind, mode, launcher, manifest_dir=Path(manifest_dir), run_dir=Path(run_dir))
    native = cls(model, Path(run_dir), config)
    native.mode_note = note  # auto mode with an engine, but this stack's image is not here: the row says so
    return native


def built_or_native(kind: str, mode: str, launcher: DockerLauncher, *, manifest_dir: Path, run_dir: Path) -> Launcher:
    """Build the Docker launcher's image now (nothing starts). When it cannot be built (base
    image unreachable, build step failed, model does not load in the image's runtime):
    `--server-mode docker` fails with the ImageBuildError; auto mode runs natively where
    possible and says so in `mode_note`, else SKIPPED with both reasons."""
    try:
        launcher.prepare()
        return launcher
    except ImageBuildError as exc:
        launcher.stop()  # nothing runs yet; this closes its engine client
        if mode == "docker":
            raise
        native_reason = native_unavailable_reason(kind)
        if native_reason is not None:
            raise ServerUnavailable(f"{get_stack(kind).label}: {exc.reason}; native: {native_reason}") from None
        native = make_launcher(
            kind,
            "native",
            manifest_dir=manifest_dir,
            run_dir=run_dir,
            config=launcher.config,
            artifact=launcher.model.entry.name,
        )
        native.mode_note = f"{exc.reason}; ran natively"
        return native


def server_versions(launcher: Launcher) -> dict[str, Any]:
    """The runtime that serves next to the one that wrote the artifact, for results.json."""
    server: dict[str, str] | None
    if launcher.mode == "docker":
        server = getattr(launcher, "runtime_versions", None)  # DockerLauncher: asked of the container
    else:
        hook = get_stack(launcher.kind).native_versions
        server = import_object(hook)() if hook else None
    return {"server": server, "exporter": dict(launcher.model.entry.tools)}
