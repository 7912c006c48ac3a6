"""TensorFlow Serving run natively via `tensorflow_model_server`, when that binary is on PATH.

TF Serving wants <base>/<model name>/<version>/saved_model.pb; the SavedModel is copied
there under the run directory. Health = GET /v1/models/<name> reporting the version
AVAILABLE (state END or an error status fails fast with TF Serving's message).

Binding: tensorflow_model_server has no flag to bind REST to 127.0.0.1 (both listeners
are hard-coded to 0.0.0.0, tensorflow/serving#1969). gRPC is therefore moved to a Unix
socket (--grpc_socket_path, --port=0), which the Endpoint carries as grpc_target
"unix:<path>" (both gRPC transports connect to it; the grpc encoding uses it); REST cannot
be, so a native TF Serving's REST port is reachable from the network for the length of the
run. The log says so. The Docker launcher does not have this limit (ports published on
127.0.0.1 only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

from ...errors import ServerError
from ..base import Endpoint, Launcher
from ..model_spec import ServedModel
from ..process import LogWatcher, free_ports, start_process_group, stop_process_tree
from .config import TFServingConfig
from .metrics import MONITORING_CONFIG
from .metrics import PATH as METRICS_PATH

BINARY = "tensorflow_model_server"
MODEL_VERSION = "1"
FATAL_MARKERS = (
    "Failed to start HTTP Server",
    "Couldn't bind to port",
    "Address already in use",
)


def tfserving_executable() -> str | None:
    return shutil.which(BINARY)


def native_unavailable_reason() -> str | None:
    if tfserving_executable() is None:
        return f"no {BINARY} on PATH"
    return None


def stage_model(model: ServedModel, base: Path) -> Path:
    """Copy the SavedModel to <base>/<name>/<version>/ (the layout TF Serving polls)."""
    target = base / model.model_name / MODEL_VERSION
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model.artifact_path, target)
    return target


def model_status_problem(body: dict) -> tuple[bool, str | None]:
    """(fatal, problem) from GET /v1/models/<name>; (False, None) when AVAILABLE."""
    statuses = body.get("model_version_status") or []
    if not statuses:
        return False, "no model_version_status yet"
    for status in statuses:
        state = status.get("state")
        error = (status.get("status") or {}).get("error_code", "OK")
        if error not in ("OK", 0):
            message = (status.get("status") or {}).get("error_message", "")
            return True, f"version {status.get('version')} {state}: {error} {message}".strip()
        if state == "AVAILABLE":
            return False, None
    return False, "state " + ", ".join(str(s.get("state")) for s in statuses)


class NativeTFServing(Launcher):
    kind = "tfserving"
    config_class = TFServingConfig
    mode = "native"

    def __init__(self, model: ServedModel, run_dir: Path, config: TFServingConfig) -> None:
        super().__init__(model, run_dir, config)
        self.config: TFServingConfig = config
        self._proc: subprocess.Popen | None = None
        self._rest_port: int | None = None
        self._tmp: Path | None = None
        self._grpc_socket: Path | None = None
        self._watcher = LogWatcher(self.log_path, FATAL_MARKERS)

    def command(self, binary: str, rest_port: int, model_base: Path, socket_path: Path) -> list[str]:
        argv = [
            binary,
            "--port=0",  # no TCP gRPC listener (it would bind 0.0.0.0)
            f"--grpc_socket_path={socket_path}",
            f"--rest_api_port={rest_port}",
            f"--model_name={self.model.model_name}",
            f"--model_base_path={model_base}",
        ]
        # Prometheus metrics on the REST port (tfserving/metrics.py: the server's view).
        monitoring = self.work_dir / "monitoring.config"
        monitoring.write_text(MONITORING_CONFIG, encoding="utf-8")
        argv.append(f"--monitoring_config_file={monitoring}")
        argv += self.config.thread_flags()
        if self.config.batching:
            params = self.work_dir / "batching_parameters.txt"
            params.write_text(self.config.batching_parameters(), encoding="utf-8")
            argv += ["--enable_batching=true", f"--batching_parameters_file={params}"]
        return argv

    def _launch(self) -> None:
        binary = tfserving_executable()
        if binary is None:
            raise ServerError(f"TF Serving: no {BINARY} on PATH")
        models = self.work_dir / "models"
        stage_model(self.model, models)
        (self._rest_port,) = free_ports(1)
        # A short path of its own: a Unix socket's path has at most 107 bytes.
        self._tmp = Path(tempfile.mkdtemp(prefix="dc-tfs-"))
        self._grpc_socket = self._tmp / "grpc.sock"
        argv = self.command(binary, self._rest_port, models / self.model.model_name, self._grpc_socket)
        (self.work_dir / "command.json").write_text(json.dumps({"argv": argv}, indent=2) + "\n")
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(
                f"[deploy-compare] note: {BINARY} binds REST to 0.0.0.0:{self._rest_port} "
                "(no loopback-only flag exists); gRPC is on a Unix socket only\n"
            )
        self._proc = start_process_group(argv, cwd=self.work_dir, env=dict(os.environ), log_path=self.log_path)

    def _check_health(self) -> str | None:
        assert self._proc is not None
        self._watcher.raise_if_failed(self._proc, self.describe())
        response = httpx.get(f"http://127.0.0.1:{self._rest_port}/v1/models/{self.model.model_name}", timeout=2.0)
        if response.status_code != 200:
            return f"model status answered {response.status_code} {response.text.strip()[:120]}"
        fatal_status, problem = model_status_problem(response.json())
        if fatal_status:
            raise ServerError(f"{self.describe()} could not load the model: {problem}")
        return problem

    @property
    def metrics_url(self) -> str | None:
        return f"http://127.0.0.1:{self._rest_port}{METRICS_PATH}" if self._rest_port else None

    def _make_endpoint(self) -> Endpoint:
        return Endpoint(
            encoding="tfserving",
            url=f"http://127.0.0.1:{self._rest_port}",
            model=self.model.model_name,
            input_name=self.model.input_name,
            grpc_target=f"unix:{self._grpc_socket}" if self._grpc_socket else None,
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _shutdown(self) -> None:
        try:
            if self._proc is not None:
                stop_process_tree(self._proc, grace_s=10.0)
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
