"""TorchServe run natively: `torchserve --foreground` with a generated config and model store.

Layout of one instance (all under the run directory, except the socket dir):
  <run>/torchserve-native/server.log         wrapper + Java console output (the server log)
  <run>/torchserve-native/logs/              TorchServe's own log4j files (LOG_LOCATION)
  <run>/torchserve-native/model-store/<name>.mar
  <run>/torchserve-native/config.properties
  <run>/torchserve-native/key_file.json      written by TorchServe in its working dir;
                                             deleted on stop (it holds the keys)
  /tmp/dc-ts-XXXX/                           TEMP/TMPDIR: worker Unix sockets and the
                                             wrapper's .model_server.pid, per instance, so
                                             two servers never collide; kept short because
                                             a Unix socket path is limited to 108 bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil

from ...errors import ServerError
from ..base import Endpoint, Launcher
from ..model_spec import ServedModel
from ..process import LogWatcher, free_ports, start_process_group, stop_process_tree
from .archive import TorchServeAddresses, build_mar, config_properties
from .config import TorchServeConfig

JAVA_MAIN_CLASS = "org.pytorch.serve.ModelServer"
# Lines that mean the start can never succeed; seen in TorchServe 0.12's log.
FATAL_MARKERS = (
    "Failed to load model",  # handler/initialize raised (bad archive, bad TorchScript)
    "Failed to bind to address",  # port taken
    "java not found",  # the wrapper could not exec Java
    "Invalid temp directory",
    "--ts-config file not found",
    "Address already in use",
)


def runtime_versions() -> dict[str, str]:
    """Native workers run this environment's Python: its torch and torchserve serve."""
    from ...versions import package_versions

    return package_versions("torch", "torchserve")


def torchserve_executable() -> str | None:
    """The `torchserve` script of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).with_name("torchserve")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("torchserve")


def java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def native_unavailable_reason() -> str | None:
    """None when native TorchServe can run here, else why not (for SKIPPED rows)."""
    if torchserve_executable() is None:
        return "the torchserve package is not installed (no `torchserve` executable)"
    if java_executable() is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") else "no java on PATH"
        )
        return f"Java 11+ is required by TorchServe ({where})"
    return None


class NativeTorchServe(Launcher):
    kind = "torchserve"
    config_class = TorchServeConfig
    mode = "native"

    def __init__(self, model: ServedModel, run_dir: Path, config: TorchServeConfig) -> None:
        super().__init__(model, run_dir, config)
        self.config: TorchServeConfig = config
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._addresses: TorchServeAddresses | None = None
        self._keys: dict[str, str] | None = None
        self._watcher = LogWatcher(self.log_path, FATAL_MARKERS)
        self._java: psutil.Process | None = None
        self.key_file = self.work_dir / "key_file.json"

    # ---- launch --------------------------------------------------------------------
    def _launch(self) -> None:
        executable = torchserve_executable()
        if executable is None:
            raise ServerError("TorchServe: no `torchserve` executable in this environment or on PATH")
        model_store = self.work_dir / "model-store"
        build_mar(self.model, self.config, model_store)
        self._addresses = TorchServeAddresses.native(free_ports(5))
        cfg_path = self.work_dir / "config.properties"
        cfg_path.write_text(
            config_properties(self.model, self.config, str(model_store), self._addresses), encoding="utf-8"
        )
        self._tmp = Path(tempfile.mkdtemp(prefix="dc-ts-", dir="/tmp" if os.path.isdir("/tmp") else None))
        logs = self.work_dir / "logs"
        logs.mkdir(exist_ok=True)
        env = dict(os.environ)
        env.pop("TS_CONFIG_FILE", None)  # would silently replace our config
        env.update(
            {
                "TEMP": str(self._tmp),  # -> -Djava.io.tmpdir: sockets, unpacked models
                "TMPDIR": str(self._tmp),  # -> the wrapper's .model_server.pid
                "LOG_LOCATION": str(logs),
                "METRICS_LOCATION": str(logs),
                "PYTHONUNBUFFERED": "1",
            }
        )
        argv = [executable, "--foreground", "--ts-config", str(cfg_path), "--model-store", str(model_store), "--ncs"]
        (self.work_dir / "command.json").write_text(
            json.dumps({"argv": argv, "cwd": str(self.work_dir)}, indent=2) + "\n"
        )
        # cwd = work_dir: TorchServe writes key_file.json into its working directory.
        self._proc = start_process_group(argv, cwd=self.work_dir, env=env, log_path=self.log_path)

    # ---- health --------------------------------------------------------------------
    def _check_health(self) -> str | None:
        assert self._proc is not None and self._addresses is not None
        self._watcher.raise_if_failed(self._proc, self.describe())
        if self._keys is None:
            self._keys = self._read_keys()
            if self._keys is None:
                return f"waiting for {self.key_file.name}"
        headers = {"Authorization": f"Bearer {self._keys['inference']}"}
        ping = httpx.get(f"{self._addresses.inference}/ping", headers=headers, timeout=2.0)
        if ping.status_code != 200 or ping.json().get("status") != "Healthy":
            return f"/ping answered {ping.status_code} {ping.text.strip()[:120]}"
        # /ping says Healthy even while no worker could load the model; the per-model
        # worker state on the management API is the real readiness signal.
        mgmt = httpx.get(
            f"{self._addresses.management}/models/{self.model.model_name}",
            headers={"Authorization": f"Bearer {self._keys['management']}"},
            timeout=2.0,
        )
        if mgmt.status_code != 200:
            return f"describe model answered {mgmt.status_code} {mgmt.text.strip()[:120]}"
        workers = mgmt.json()[0].get("workers", [])
        ready = sum(1 for w in workers if w.get("status") == "READY")
        if ready < self.config.workers:
            return f"{ready}/{self.config.workers} workers READY"
        self._java = self._find_java()
        return None

    def _read_keys(self) -> dict[str, str] | None:
        try:
            data = json.loads(self.key_file.read_text(encoding="utf-8"))
            return {"inference": data["inference"]["key"], "management": data["management"]["key"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not written yet, or being written

    def _find_java(self) -> psutil.Process | None:
        if self._proc is None:
            return None
        try:
            for child in psutil.Process(self._proc.pid).children(recursive=True):
                if JAVA_MAIN_CLASS in " ".join(child.cmdline()):
                    return child
        except psutil.Error:
            return None
        return None

    def _make_endpoint(self) -> Endpoint:
        assert self._addresses is not None and self._keys is not None
        return Endpoint(
            encoding="torchserve",
            url=self._addresses.inference,
            model=self.model.model_name,
            headers={"Authorization": f"Bearer {self._keys['inference']}"},
            grpc_target=f"{self._addresses.grpc_host}:{self._addresses.grpc_inference_port}",
        )

    # ---- introspection for tests and the pipeline -----------------------------------
    @property
    def pid(self) -> int | None:
        """PID of the Java frontend (the process that answers HTTP). Killing it takes the
        server down; stop() still cleans up the wrapper and the workers."""
        return self._java.pid if self._java is not None else None

    @property
    def wrapper_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def metrics_url(self) -> str | None:
        return f"{self._addresses.metrics}/metrics" if self._addresses is not None else None

    @property
    def root_pid(self) -> int | None:
        return self.wrapper_pid

    def process_tree(self) -> list[psutil.Process]:
        """Wrapper, Java and workers as they are now."""
        from ..proctree import tree_of

        return tree_of(self._proc.pid) if self._proc is not None else []

    # ---- stop ----------------------------------------------------------------------
    def _shutdown(self) -> None:
        try:
            if self._proc is not None:
                extra = [self._java] if self._java is not None else []
                survivors = stop_process_tree(self._proc, grace_s=10.0, extra=extra)
                if survivors:
                    # Reported, not raised: stop() must not mask the error that led here.
                    with open(self.log_path, "a", encoding="utf-8") as log:
                        log.write(f"\n[deploy-compare] WARNING: processes still alive after SIGKILL: {survivors}\n")
        finally:
            self.key_file.unlink(missing_ok=True)
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
