"""Start the FastAPI baseline under uvicorn, natively, as its own process group.

Layout of one instance (under the run directory):
  <run>/<target>-native/server.log      uvicorn's output (the server log)
  <run>/<target>-native/service.json    what app.py loads (manifest dir, artifact, threads...)
  <run>/<target>-native/token           the bearer token (mode 0600; deleted on stop)
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from ..base import Launcher
from ..kserve_v2 import NativeKServeV2Server
from ..model_spec import ServedModel
from ..process import LogWatcher, free_ports, start_process_group, stop_process_tree
from ..registry import get as get_stack
from .config import SPEC_ENV, FastAPIServiceConfig

FATAL_MARKERS = ("Traceback (most recent call last)", "address already in use", "Error loading ASGI app")


def native_unavailable_reason() -> str | None:
    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed"
    return None


class NativeFastAPIService(NativeKServeV2Server, Launcher):
    kind = "fastapi_onnx"  # set per instance from the served model (two targets share this class)
    config_class = FastAPIServiceConfig
    mode = "native"

    def __init__(self, model: ServedModel, run_dir: Path, config: FastAPIServiceConfig) -> None:
        self.kind = model.kind
        super().__init__(model, run_dir, config)
        self.config: FastAPIServiceConfig = config
        self._proc: subprocess.Popen | None = None
        self._port: int | None = None
        self._grpc_port: int | None = None
        self._token = secrets.token_urlsafe(24)
        self._watcher = LogWatcher(self.log_path, FATAL_MARKERS)
        self.token_file = self.work_dir / "token"

    def _launch(self) -> None:
        stack = get_stack(self.model.kind)
        self.token_file.write_text(self._token, encoding="utf-8")
        self.token_file.chmod(0o600)
        self._port, self._grpc_port = free_ports(2)
        spec = {
            "manifest_dir": str(self.model.manifest_dir),
            "artifact": self.model.entry.name,  # the stack's own, or the one `[run] serve` paired it with
            "model_name": self.model.model_name,
            "threads": self.config.threads,
            "max_cores": stack.max_server_cores,  # the edge-service path: 1, in `serve` as in `run`
            "token_file": str(self.token_file),
            "platform": stack.label,
            "grpc_port": self._grpc_port,  # the same process answers GRPCInferenceService (grpc_server.py)
        }
        spec_path = self.work_dir / "service.json"
        spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "deploy_compare.servers.fastapi_service.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--workers",
            str(self.config.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{SPEC_ENV: str(spec_path)})
        (self.work_dir / "command.json").write_text(json.dumps({"argv": argv, "cwd": str(self.work_dir)}, indent=2))
        self._proc = start_process_group(argv, cwd=self.work_dir, env=env, log_path=self.log_path)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _shutdown(self) -> None:
        try:
            if self._proc is not None:
                survivors = stop_process_tree(self._proc, grace_s=10.0)
                if survivors:
                    with open(self.log_path, "a", encoding="utf-8") as log:
                        log.write(f"\n[deploy-compare] WARNING: processes still alive after SIGKILL: {survivors}\n")
        finally:
            self.token_file.unlink(missing_ok=True)
