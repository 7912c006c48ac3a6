"""TorchServe in a container built from Dockerfile.torchserve (repository root; pytorch/torchserve
CPU tag by default, or the configured base image).

Build context (assembled here):  Dockerfile, model-store/<name>.mar, config.properties,
smoke_load.py (loads the TorchScript file with the image's torch at build time).
Inside the container TorchServe listens on 0.0.0.0:8080 (inference) and :8081
(management, model API off); both are published on the host's 127.0.0.1 only. Token
authorization stays on: the key file is read from the container with `exec cat`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ...errors import ServerError
from ..base import Endpoint
from ..docker_base import DockerLauncher
from ..model_spec import ServedModel
from .archive import TorchServeAddresses, build_mar, config_properties
from .config import TorchServeConfig

CONTAINER_HOME = "/home/model-server"
CONTAINER_MODEL_STORE = f"{CONTAINER_HOME}/model-store"
CONTAINER_KEY_FILE = f"{CONTAINER_HOME}/key_file.json"
CONTAINER_VERSIONS_FILE = f"{CONTAINER_HOME}/runtime-versions.json"  # written by smoke_load.py
INFERENCE_PORT = "8080/tcp"
MANAGEMENT_PORT = "8081/tcp"
METRICS_PORT = "8082/tcp"
GRPC_INFERENCE_PORT = "7070/tcp"
SMOKE_LOAD = Path(__file__).with_name("smoke_load.py")  # the image runs it at build time


class DockerTorchServe(DockerLauncher):
    kind = "torchserve"
    config_class = TorchServeConfig
    dockerfile_name = "Dockerfile.torchserve"
    image_repo = "deploy-compare/torchserve"

    def __init__(self, model: ServedModel, run_dir: Path, config: TorchServeConfig, client: Any = None) -> None:
        super().__init__(model, run_dir, config, client)
        self.config: TorchServeConfig = config
        self._keys: dict[str, str] | None = None

    @property
    def container_ports(self) -> tuple[str, ...]:
        ports = (INFERENCE_PORT, MANAGEMENT_PORT, GRPC_INFERENCE_PORT)
        return ports + (METRICS_PORT,) if self.config.metrics_api else ports

    @property
    def metrics_url(self) -> str | None:
        return f"{self._host_url(METRICS_PORT)}/metrics" if METRICS_PORT in self.host_ports else None

    def extra_build_args(self) -> dict[str, str]:
        # Named in the smoke-load's failure message next to the image's own torch.
        return {"EXPORTER_TORCH": self.model.entry.tools.get("torch", "unknown")}

    def _write_context_files(self, context: Path) -> None:
        build_mar(self.model, self.config, context / "model-store")
        shutil.copyfile(SMOKE_LOAD, context / "smoke_load.py")
        # build_mar stages its handler_config.json beside the store; keep the context to
        # exactly what the Dockerfile COPYs.
        staging = context / "archive-src"
        if staging.exists():
            shutil.rmtree(staging)
        (context / "config.properties").write_text(
            config_properties(self.model, self.config, CONTAINER_MODEL_STORE, TorchServeAddresses.container()),
            encoding="utf-8",
        )

    def _read_keys(self) -> dict[str, str] | None:
        code, output = self._container.exec_run(["cat", CONTAINER_KEY_FILE])
        if code != 0:
            return None
        try:
            data = json.loads(output)
            return {"inference": data["inference"]["key"], "management": data["management"]["key"]}
        except (ValueError, KeyError, TypeError):
            return None

    def _read_runtime_versions(self) -> dict[str, str] | None:
        code, output = self._container.exec_run(["cat", CONTAINER_VERSIONS_FILE])
        if code != 0:
            return None
        data = json.loads(output)
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None

    def _check_health(self) -> str | None:
        import httpx

        self._check_container_running()
        tail = self.tail(200)
        if "Failed to load model" in tail:
            raise ServerError(f"{self.describe()}: the model failed to load in the container", self.tail())
        if self._keys is None:
            self._keys = self._read_keys()
            if self._keys is None:
                return "waiting for key_file.json in the container"
        inference = self._host_url(INFERENCE_PORT)
        ping = httpx.get(f"{inference}/ping", headers=self._auth("inference"), timeout=2.0)
        if ping.status_code != 200 or ping.json().get("status") != "Healthy":
            return f"/ping answered {ping.status_code}"
        mgmt = httpx.get(
            f"{self._host_url(MANAGEMENT_PORT)}/models/{self.model.model_name}",
            headers=self._auth("management"),
            timeout=2.0,
        )
        if mgmt.status_code != 200:
            return f"describe model answered {mgmt.status_code}"
        ready = sum(1 for w in mgmt.json()[0].get("workers", []) if w.get("status") == "READY")
        return None if ready >= self.config.workers else f"{ready}/{self.config.workers} workers READY"

    def _auth(self, which: str) -> dict[str, str]:
        assert self._keys is not None
        return {"Authorization": f"Bearer {self._keys[which]}"}

    def _make_endpoint(self) -> Endpoint:
        return Endpoint(
            encoding="torchserve",
            url=self._host_url(INFERENCE_PORT),
            model=self.model.model_name,
            headers=self._auth("inference"),
            grpc_target=f"127.0.0.1:{self.host_ports[GRPC_INFERENCE_PORT]}",
        )
