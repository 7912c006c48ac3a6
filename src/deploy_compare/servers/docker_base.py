"""Servers in containers, through the Python `docker` SDK.

A Docker launcher assembles a build context directory itself (the stack's Dockerfile,
Dockerfile.<kind> at the repository root, copied in as `Dockerfile`, plus the files it
COPYs, all produced by this toolkit), builds an image tagged by the context's content hash (an
unchanged model, config and base image reuse the image), runs it detached under a unique
name and the toolkit's label, with every port published on 127.0.0.1 only, on free host
ports, optionally on a cpuset, and on stop saves the container's log to the run
directory, stops it and removes it.

`prepare()` builds the image without starting anything, so the pipeline can time the
build apart from start-to-healthy and fall back to native when the image cannot be built
(factory.py). The docker client is created lazily (or injected, for unit tests of the
argument building), so importing this module never needs an engine.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import uuid
import zipfile
from abc import abstractmethod
from pathlib import Path
from typing import Any

from ..errors import ImageBuildError, ServerError, message_line
from .base import Launcher
from .config import ServerConfig
from .model_spec import ServedModel
from .process import free_ports, log_tail
from .supervisor import LABEL, RUN_DIR_LABEL, ensure_watchdog, owner_labels

# The Dockerfiles' one source is the repository root (Dockerfile.<kind>, buildable by hand);
# the build (setup.py's build_py) copies them into the package, so a non-editable install
# finds them in PACKAGED_DOCKERFILES_DIR. A checkout (or an editable install) reads the root.
CHECKOUT_ROOT = Path(__file__).resolve().parents[3]
PACKAGED_DOCKERFILES_DIR = Path(__file__).resolve().with_name("dockerfiles")
ENGINE_PING_TIMEOUT_S = 3
BUILD_TIMEOUT_S = 1800  # a first build may pull a ~1 GB base image from a mirror

#: a line smoke_load.py prints when the model does not load in the image's runtime
SMOKE_FAILURE_PREFIX = "deploy-compare smoke-load:"


def dockerfile_path(name: str) -> Path:
    """The root Dockerfile in a checkout, else the copy the build packaged."""
    for directory in (CHECKOUT_ROOT, PACKAGED_DOCKERFILES_DIR):
        if (directory / name).is_file():
            return directory / name
    raise ServerError(
        f"{name}: not found at {CHECKOUT_ROOT} nor in {PACKAGED_DOCKERFILES_DIR} "
        "(the package was built without its Dockerfiles)"
    )


def default_base_image(dockerfile_name: str) -> str:
    """The `ARG BASE_IMAGE=<default>` of a stack's Dockerfile: the one place the pin lives."""
    text = dockerfile_path(dockerfile_name).read_text(encoding="utf-8")
    match = re.search(r"^ARG BASE_IMAGE=(\S+)\s*$", text, re.MULTILINE)
    if not match:
        raise ServerError(f"{dockerfile_name}: no `ARG BASE_IMAGE=<default>` line")
    return match.group(1)


def docker_unavailable_reason(timeout_s: float = ENGINE_PING_TIMEOUT_S) -> str | None:
    """None when a Docker engine answers a ping, else a one-line reason."""
    try:
        import docker
    except ImportError:
        return "the docker Python SDK is not installed"
    try:
        client = docker.from_env(timeout=int(max(1, timeout_s)))  # type: ignore[attr-defined]  # docker has no stubs for it
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
        #: seconds the image build took (None until prepare(); ~0 when the tag existed)
        self.build_s: float | None = None
        #: host cores for the container (the engine's cpuset); None = all
        self.cpuset: tuple[int, ...] | None = None
        #: versions of the runtime inside the image, read once healthy
        self.runtime_versions: dict[str, str] | None = None
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

    def extra_build_args(self) -> dict[str, str]:
        return {}

    def environment(self) -> dict[str, str]:
        return {}

    def command(self) -> list[str] | None:
        return None

    def _read_runtime_versions(self) -> dict[str, str] | None:
        """The server runtime's versions, asked of the running container (None: unknown)."""
        return None

    # ---- argument building (unit-tested without an engine) --------------------------
    @property
    def base_image(self) -> str:
        """The configured base image, else the Dockerfile's pinned default."""
        return getattr(self.config, "base_image", None) or default_base_image(self.dockerfile_name)

    def build_args(self) -> dict[str, str]:
        args = dict(self.extra_build_args())
        if getattr(self.config, "base_image", None):
            args["BASE_IMAGE"] = self.base_image
        return args

    def assemble_context(self) -> Path:
        ctx = self.context_dir
        if ctx.exists():
            shutil.rmtree(ctx)
        ctx.mkdir(parents=True)
        shutil.copyfile(dockerfile_path(self.dockerfile_name), ctx / "Dockerfile")
        self._write_context_files(ctx)
        return ctx

    def make_image_tag(self, context: Path) -> str:
        # Content-addressed: build args (the base image among them) change the image too.
        digest = context_digest(context)
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
            "labels": {LABEL: self.kind},
        }

    def run_kwargs(self, tag: str, host_ports: dict[str, int]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "image": tag,
            "name": self.container_name,
            "detach": True,
            # loopback only: nothing outside this machine can reach the server
            "ports": {cport: ("127.0.0.1", hport) for cport, hport in host_ports.items()},
            "environment": self.environment(),
            # the owner labels: this process's watchdog (supervisor.py) and the next run's
            # preflight remove the container once this process is gone, whatever killed it
            "labels": {LABEL: self.kind, RUN_DIR_LABEL: str(self.run_dir), **owner_labels()},
            # tini as PID 1: signals reach the server and zombies are reaped
            "init": True,
        }
        if self.memory_limit_mib:
            # The cgroup's limit, swap included (no swap): the kernel's OOM killer acts at it.
            kwargs["mem_limit"] = f"{self.memory_limit_mib}m"
            kwargs["memswap_limit"] = f"{self.memory_limit_mib}m"
        if self.cpuset:
            # The engine's cpuset: the server's processes can only run on these host cores,
            # like the native split's pinning (the client pins itself to the others).
            kwargs["cpuset_cpus"] = ",".join(str(c) for c in sorted(self.cpuset))
        command = self.command()
        if command:
            kwargs["command"] = command
        return kwargs

    # ---- lifecycle -----------------------------------------------------------------
    def _docker(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=120)  # type: ignore[attr-defined]  # docker has no stubs for it
            except Exception as exc:
                raise ServerError(f"{self.describe()}: cannot reach the Docker engine ({_first_line(exc)})") from None
        return self._client

    def prepare(self) -> str:
        """Assemble the context and build the image (once); return its tag.

        Raises ImageBuildError whose `.reason` says why in one line (the base image is not
        available, a build step failed, the model does not load in the image's runtime).
        """
        if self.image_tag is not None and self.build_s is not None:
            return self.image_tag
        client = self._docker()
        context = self.assemble_context()
        tag = self.make_image_tag(context)
        self.image_tag = tag
        began = time.monotonic()
        if _image_present(client, tag):  # content-addressed: this exact image was built before
            (self.work_dir / "build.log").write_text(f"image {tag} exists; not rebuilt\n", encoding="utf-8")
        else:
            self._build(client, context, tag)
        self.build_s = time.monotonic() - began
        return tag

    def _launch(self) -> None:
        client = self._docker()
        tag = self.prepare()
        self.host_ports = dict(zip(self.container_ports, free_ports(len(self.container_ports))))
        kwargs = self.run_kwargs(tag, self.host_ports)
        (self.work_dir / "command.json").write_text(
            json.dumps({"build": self.build_kwargs(self.context_dir, tag), "run": kwargs}, indent=2, default=str) + "\n"
        )
        self._run_attempted = True
        ensure_watchdog()
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
            raise ImageBuildError(self._build_failure_reason(client, exc, build_log), log_tail(build_log)) from None

    def _build_failure_reason(self, client: Any, exc: Exception, build_log: Path) -> str:
        """One line for the report: the smoke-load verdict, a missing base, or the build error."""
        text = build_log.read_text(encoding="utf-8", errors="replace") if build_log.exists() else ""
        smoke = [line for line in text.splitlines() if line.startswith(SMOKE_FAILURE_PREFIX)]
        if smoke:
            return f"docker: {smoke[-1][len(SMOKE_FAILURE_PREFIX) :].strip()}"
        base = self.base_image
        if not _image_present(client, base):
            return f"docker: base image {base} not available: {_first_line(exc)}"
        return f"docker: image build of {self.image_tag} failed: {_first_line(exc)}"

    def monitor(self) -> Any:
        from .monitor import DockerMonitor

        if self._container is None:
            return None
        metrics, note = self.metrics_source()
        return DockerMonitor(self._container, metrics, note)

    def failure_reason(self) -> str | None:
        """'out of memory ...' when the engine's OOM killer ended the container."""
        if self._container is None:
            return None
        try:
            state = self._container_state()
        except Exception:
            return None
        if state.get("OOMKilled"):
            return f"out of memory: the kernel's OOM killer ended the container at its memory limit ({self.memory_limit_mib} MiB)"
        return None

    def _container_state(self) -> dict[str, Any]:
        self._container.reload()
        return self._container.attrs.get("State", {}) or {}

    def _check_container_running(self) -> None:
        state = self._container_state()
        if state.get("Status") in ("exited", "dead"):
            self._save_logs()
            oom = (
                " (out of memory: killed by the kernel's OOM killer at the memory limit)"
                if state.get("OOMKilled")
                else ""
            )
            raise ServerError(
                f"{self.describe()}: container {self.container_name} exited with code "
                f"{state.get('ExitCode')} before becoming healthy{oom}",
                self.tail(),
            )

    def _wait_healthy(self, deadline: float) -> Any:
        endpoint = super()._wait_healthy(deadline)
        try:
            self.runtime_versions = self._read_runtime_versions()
        except Exception:
            self.runtime_versions = None  # a record must not fail the run
        return endpoint

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


def context_digest(context: Path) -> str:
    """sha256 of a build context by CONTENT: archives (.mar) count by their members' names and
    bytes, not their timestamps (zip entries, MANIFEST.json's createdOn), so an unchanged
    model gives the same tag on every run."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        if path.suffix == ".mar":
            with zipfile.ZipFile(path) as archive:
                for name in sorted(archive.namelist()):
                    data = archive.read(name)
                    if name == "MAR-INF/MANIFEST.json":  # carries a createdOn timestamp
                        manifest = json.loads(data)
                        manifest.pop("createdOn", None)
                        data = json.dumps(manifest, sort_keys=True).encode()
                    digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _image_present(client: Any, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except Exception:
        return False


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
