"""Servers in containers, through the Python `docker` SDK.

A Docker launcher assembles a build context directory itself (the repository's
Dockerfile.<kind> copied in as `Dockerfile`, plus the files it COPYs, all produced by
this toolkit), builds an image tagged by the context's content hash (an unchanged model
and config reuse the image), runs it detached under a unique name with every port
published on 127.0.0.1 only, on free host ports, and on stop saves the container's log
to the run directory, stops it and removes it.

The docker client is created lazily (or injected, for unit tests of the argument
building), so importing this module never needs an engine.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from abc import abstractmethod
from pathlib import Path
from typing import Any

from ..errors import ServerError, message_line
from ..fileio import sha256_of
from .base import Launcher
from .config import ServerConfig
from .model_spec import ServedModel
from .process import free_ports, log_tail

REPO_ROOT = Path(__file__).resolve().parents[3]
ENGINE_PING_TIMEOUT_S = 3
BUILD_TIMEOUT_S = 1800  # first build pulls a ~1 GB base image


def dockerfile_path(name: str) -> Path:
    path = REPO_ROOT / name
    if not path.is_file():
        raise ServerError(
            f"{path}: not found (the Dockerfiles live in the repository root; Docker targets need a source checkout)"
        )
    return path


def docker_unavailable_reason(timeout_s: float = ENGINE_PING_TIMEOUT_S) -> str | None:
    """None when a Docker engine answers a ping, else a one-line reason."""
    try:
        import docker
    except ImportError:
        return "the docker Python SDK is not installed"
    try:
        client = docker.from_env(timeout=int(max(1, timeout_s)))
    except Exception as exc:  # DockerException when no socket/host is configured
        return f"no Docker engine answers ({_first_line(exc)})"
    try:
        client.ping()
        return None
    except Exception as exc:
        return f"no Docker engine answers ({_first_line(exc)})"
    finally:
        try:
            client.close()
        except Exception:
            pass


def _first_line(exc: BaseException) -> str:
    return message_line(exc)[:200]  # Docker errors can embed whole build logs


class DockerLauncher(Launcher):
    mode = "docker"
    dockerfile_name: str = ""
    image_repo: str = ""

    def __init__(self, model: ServedModel, run_dir: Path, config: ServerConfig, client: Any = None) -> None:
        super().__init__(model, run_dir, config)
        self._client = client
        self._owns_client = client is None
        self.container_name = f"deploy-compare-{self.kind}-{uuid.uuid4().hex[:12]}"
        self.context_dir = self.work_dir / "context"
        self.image_tag: str | None = None
        self.host_ports: dict[str, int] = {}
        self._container: Any = None
        self._logs_saved = False
        self._run_attempted = False

    # ---- what subclasses describe ----------------------------------------------------
    @property
    @abstractmethod
    def container_ports(self) -> tuple[str, ...]:
        """Container ports to publish, e.g. ("8080/tcp",)."""

    @abstractmethod
    def _write_context_files(self, context: Path) -> None:
        """Write every file the Dockerfile COPYs into `context`."""

    def build_args(self) -> dict[str, str]:
        return {}

    def environment(self) -> dict[str, str]:
        return {}

    def command(self) -> list[str] | None:
        return None

    # ---- argument building (unit-tested without an engine) --------------------------
    def assemble_context(self) -> Path:
        ctx = self.context_dir
        if ctx.exists():
            shutil.rmtree(ctx)
        ctx.mkdir(parents=True)
        shutil.copyfile(dockerfile_path(self.dockerfile_name), ctx / "Dockerfile")
        self._write_context_files(ctx)
        return ctx

    def make_image_tag(self, context: Path) -> str:
        # Content-addressed: build args change the image too, so they join the hash.
        digest = sha256_of(context)
        salt = json.dumps(self.build_args(), sort_keys=True)
        tag = hashlib.sha256((digest + salt).encode()).hexdigest()[:12]
        return f"{self.image_repo}:{self.model.model_name}-{tag}"

    def build_kwargs(self, context: Path, tag: str) -> dict[str, Any]:
        return {
            "path": str(context),
            "dockerfile": "Dockerfile",
            "tag": tag,
            "buildargs": self.build_args(),
            "rm": True,
            "forcerm": True,
            "pull": False,
            "labels": {"org.deploy-compare.kind": self.kind},
        }

    def run_kwargs(self, tag: str, host_ports: dict[str, int]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "image": tag,
            "name": self.container_name,
            "detach": True,
            # loopback only: nothing outside this machine can reach the server
            "ports": {cport: ("127.0.0.1", hport) for cport, hport in host_ports.items()},
            "environment": self.environment(),
            "labels": {"org.deploy-compare.kind": self.kind, "org.deploy-compare.run-dir": str(self.run_dir)},
            # tini as PID 1: signals reach the server and zombies are reaped
            "init": True,
        }
        command = self.command()
        if command:
            kwargs["command"] = command
        return kwargs

    # ---- lifecycle -----------------------------------------------------------------
    def _docker(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=120)
            except Exception as exc:
                raise ServerError(f"{self.describe()}: cannot reach the Docker engine ({_first_line(exc)})") from None
        return self._client

    def _launch(self) -> None:
        client = self._docker()
        context = self.assemble_context()
        tag = self.make_image_tag(context)
        self.image_tag = tag
        self._build(client, context, tag)
        self.host_ports = dict(zip(self.container_ports, free_ports(len(self.container_ports))))
        kwargs = self.run_kwargs(tag, self.host_ports)
        (self.work_dir / "command.json").write_text(
            json.dumps({"build": self.build_kwargs(context, tag), "run": kwargs}, indent=2, default=str) + "\n"
        )
        self._run_attempted = True
        try:
            self._container = client.containers.run(**kwargs)
        except Exception as exc:
            raise ServerError(f"{self.describe()}: container failed to start ({_first_line(exc)})") from None

    def _build(self, client: Any, context: Path, tag: str) -> None:
        build_log = self.work_dir / "build.log"
        try:
            _image, logs = client.images.build(**self.build_kwargs(context, tag), timeout=BUILD_TIMEOUT_S)
            _write_build_log(build_log, logs)
        except Exception as exc:
            _write_build_log(build_log, getattr(exc, "build_log", None) or [])
            raise ServerError(
                f"{self.describe()}: image build of {tag} failed ({_first_line(exc)})", log_tail(build_log)
            ) from None

    def _container_state(self) -> dict[str, Any]:
        self._container.reload()
        return self._container.attrs.get("State", {}) or {}

    def _check_container_running(self) -> None:
        state = self._container_state()
        if state.get("Status") in ("exited", "dead"):
            self._save_logs()
            raise ServerError(
                f"{self.describe()}: container {self.container_name} exited with code "
                f"{state.get('ExitCode')} before becoming healthy",
                self.tail(),
            )

    def _host_url(self, container_port: str) -> str:
        return f"http://127.0.0.1:{self.host_ports[container_port]}"

    def _save_logs(self) -> None:
        if self._container is None:
            return
        try:
            data = self._container.logs(stdout=True, stderr=True)
            self.log_path.write_bytes(data if isinstance(data, bytes) else str(data).encode())
            self._logs_saved = True
        except Exception as exc:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(f"[deploy-compare] could not fetch container logs: {_first_line(exc)}\n")

    def tail(self, lines: int = 40) -> str:
        if self._container is not None and not self._stopped:
            self._save_logs()
        return log_tail(self.log_path, lines)

    def _shutdown(self) -> None:
        container = self._container
        if container is None and self._run_attempted and self._client is not None:
            # run() can fail after creating the container (e.g. a port taken meanwhile)
            try:
                container = self._client.containers.get(self.container_name)
            except Exception:
                container = None
        try:
            if container is not None:
                self._container = container
                self._save_logs()  # before removal: the log dies with the container
                self._container = None
                for step in (lambda: container.stop(timeout=10), lambda: container.remove(force=True)):
                    try:
                        step()
                    except Exception as exc:
                        with open(self.log_path, "a", encoding="utf-8") as fh:
                            fh.write(f"[deploy-compare] container cleanup: {_first_line(exc)}\n")
        finally:
            if self._owns_client and self._client is not None:
                try:
                    self._client.close()
                except Exception:
                    pass


def _write_build_log(path: Path, logs: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for chunk in logs or []:
            if isinstance(chunk, dict):
                text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
                if chunk.get("errorDetail"):
                    text = text or json.dumps(chunk["errorDetail"])
            else:
                text = str(chunk)
            if text:
                fh.write(text if text.endswith("\n") else text + "\n")
