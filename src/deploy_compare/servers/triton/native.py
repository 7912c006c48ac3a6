"""Triton run natively: `tritonserver` from the nvidia-pytriton wheel in .venv-triton.

Layout of one instance (under the run directory):
  <run>/triton-native/server.log          tritonserver's output (the server log)
  <run>/triton-native/models/<model>/...   the model repository (repository.py)
  <run>/triton-native/backends/python/     the Python backend + the stub for Python 3.11,
                                           assembled the way PyTriton does it
Everything binds 127.0.0.1; gRPC is off (the load client speaks REST); every HTTP API needs
the bearer token (--http-restricted-api). The Prometheus metrics listener is on, on
127.0.0.1 only (its own port, no token: Triton has none for it), for the server's view of
queue and compute time (metrics.py).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from ...errors import ServerError
from ..base import Launcher
from ..kserve_v2 import NativeKServeV2Server
from ..model_spec import ServedModel
from ..process import LogWatcher, free_ports, start_process_group, stop_process_tree
from . import GRPC_KEY_METADATA
from .config import TritonConfig
from .repository import python_backend_repository

ENV_VARIABLE = "DEPLOY_COMPARE_TRITON_ENV"
ENV_NAME = ".venv-triton"  # made by `make venv` (requirements-triton.lock) in the checkout
STUB_PYTHON = "3.11"  # the stub must match the system libpython it embeds
RESTRICTED_APIS = "health,metadata,inference,shared-memory,model-config,model-repository,statistics,trace,logging"
# Lines that mean the start can never succeed.
FATAL_MARKERS = (
    "failed to load",
    "Failed to start",
    "failed to start",
    "error: creating server",
    "Address already in use",
    "Unable to find",
)


def triton_env() -> Path:
    """$DEPLOY_COMPARE_TRITON_ENV, else .venv-triton beside the main virtualenv (the checkout
    `make venv` ran in), else in the working directory (an installed copy run from a checkout)."""
    if os.environ.get(ENV_VARIABLE):
        return Path(os.environ[ENV_VARIABLE])
    beside_venv = Path(sys.prefix).parent / ENV_NAME
    return beside_venv if beside_venv.is_dir() else Path.cwd() / ENV_NAME


def _site_packages(env: Path) -> Path:
    return env / "lib" / f"python{STUB_PYTHON}" / "site-packages"


def tritonserver_dir(env: Path | None = None) -> Path:
    return _site_packages(env or triton_env()) / "pytriton" / "tritonserver"


def native_unavailable_reason() -> str | None:
    """None when native Triton can run here, else why not (for SKIPPED rows)."""
    env = triton_env()
    server = tritonserver_dir(env) / "bin" / "tritonserver"
    if not server.is_file():
        return (
            f"no tritonserver binary in {env} (the separate Triton environment; `make venv` builds it "
            "from requirements-triton.lock)"
        )
    if not (tritonserver_dir(env) / "python_backend_stubs" / STUB_PYTHON / "triton_python_backend_stub").is_file():
        return f"nvidia-pytriton in {env} has no Python {STUB_PYTHON} backend stub"
    if not any(Path(d, f"libpython{STUB_PYTHON}.so.1.0").exists() for d in _library_dirs()):
        return (
            f"the Python backend stub needs the system libpython{STUB_PYTHON}.so.1.0 (Debian: libpython{STUB_PYTHON})"
        )
    return None


def env_versions(env: Path | None = None) -> dict[str, str]:
    """Package versions of the Triton environment (it is not the toolkit's own venv), for
    environment.json: nvidia-pytriton (the server binary), numpy and onnxruntime (model.py)."""
    site = _site_packages(env or triton_env())
    versions = {}
    for dist in sorted(site.glob("*.dist-info")):
        name, _, version = dist.name[: -len(".dist-info")].partition("-")
        if name.lower().replace("_", "-") in ("nvidia-pytriton", "numpy", "onnxruntime"):
            versions[name.lower().replace("_", "-")] = version
    return versions


def _library_dirs() -> list[str]:
    return ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]


class NativeTriton(NativeKServeV2Server, Launcher):
    kind = "triton"
    grpc_key_metadata = GRPC_KEY_METADATA
    config_class = TritonConfig
    mode = "native"

    def __init__(self, model: ServedModel, run_dir: Path, config: TritonConfig) -> None:
        super().__init__(model, run_dir, config)
        self.config: TritonConfig = config
        self._proc: subprocess.Popen | None = None
        self._port: int | None = None
        self._grpc_port: int | None = None
        self._metrics_port: int | None = None
        self._token = secrets.token_urlsafe(24)
        self._watcher = LogWatcher(self.log_path, FATAL_MARKERS)

    def _backends(self, env: Path) -> Path:
        """backends/python with the stub of our Python version, as PyTriton assembles it."""
        source = tritonserver_dir(env)
        backends = self.work_dir / "backends"
        shutil.copytree(source / "backends", backends)
        stub = source / "python_backend_stubs" / STUB_PYTHON / "triton_python_backend_stub"
        shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
        return backends

    def _launch(self) -> None:
        env_dir = triton_env().resolve()
        reason = native_unavailable_reason()
        if reason:
            raise ServerError(f"Triton: {reason}")
        repo = python_backend_repository(self.work_dir / "models", self.model, self.config, env_dir)
        backends = self._backends(env_dir)
        self._port, self._grpc_port, self._metrics_port = free_ports(3)
        server = tritonserver_dir(env_dir) / "bin" / "tritonserver"
        argv = [
            str(server),
            f"--model-repository={repo}",
            f"--backend-directory={backends}",
            "--http-address=127.0.0.1",
            f"--http-port={self._port}",
            # gRPC (GRPCInferenceService) for the grpc encoding, on loopback, behind the same key
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self._grpc_port}",
            "--allow-metrics=true",
            "--allow-cpu-metrics=false",
            "--allow-gpu-metrics=false",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self._metrics_port}",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--disable-auto-complete-config",
            "--log-verbose=0",
        ]
        logged = [
            *argv,
            f"--http-restricted-api={RESTRICTED_APIS}:Authorization=<redacted>",
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:authorization=<redacted>",
        ]
        argv.append(f"--http-restricted-api={RESTRICTED_APIS}:Authorization=Bearer {self._token}")
        # gRPC metadata keys are lowercase: the client sends the key as `authorization`.
        argv.append(f"--grpc-restricted-protocol={RESTRICTED_APIS}:authorization=Bearer {self._token}")
        libs = _site_packages(env_dir) / "nvidia_pytriton.libs"
        environ = dict(os.environ)
        environ["LD_LIBRARY_PATH"] = ":".join(p for p in (str(libs), environ.get("LD_LIBRARY_PATH", "")) if p)
        environ.pop("PYTHONPATH", None)  # the stub must see .venv-triton only, not our venv
        (self.work_dir / "command.json").write_text(
            json.dumps({"argv": logged, "cwd": str(self.work_dir), "python": sys.version.split()[0]}, indent=2) + "\n"
        )
        self._proc = start_process_group(argv, cwd=self.work_dir, env=environ, log_path=self.log_path)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def metrics_url(self) -> str | None:
        return f"http://127.0.0.1:{self._metrics_port}/metrics" if self._metrics_port else None

    def _shutdown(self) -> None:
        if self._proc is None:
            return
        survivors = stop_process_tree(self._proc, grace_s=15.0)
        if survivors:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"\n[deploy-compare] WARNING: processes still alive after SIGKILL: {survivors}\n")
