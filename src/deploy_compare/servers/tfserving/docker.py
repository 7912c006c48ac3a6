"""TensorFlow Serving in a container built from Dockerfile.tfserving (repository root)
(tensorflow/serving by default, or the configured base image).

Build context (assembled here):  Dockerfile, savedmodel/ (the artifact directory),
batching_parameters.txt (always present so the image does not depend on the batching
switch; batching is turned on with run arguments). The image's entrypoint serves
/models/$MODEL_NAME; the REST port 8501 and the gRPC port 8500 (PredictionService, the grpc
encoding) are published, on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ...errors import ServerError
from ..base import Endpoint
from ..docker_base import DockerLauncher
from ..model_spec import ServedModel
from .config import TFServingConfig
from .native import model_status_problem

REST_PORT = "8501/tcp"
GRPC_PORT = "8500/tcp"  # the image's entrypoint passes --port=8500
CONTAINER_BATCHING_FILE = "/models/batching_parameters.txt"


class DockerTFServing(DockerLauncher):
    kind = "tfserving"
    config_class = TFServingConfig
    dockerfile_name = "Dockerfile.tfserving"
    image_repo = "deploy-compare/tfserving"

    def __init__(self, model: ServedModel, run_dir: Path, config: TFServingConfig, client: Any = None) -> None:
        super().__init__(model, run_dir, config, client)
        self.config: TFServingConfig = config

    @property
    def container_ports(self) -> tuple[str, ...]:
        return (REST_PORT, GRPC_PORT)

    def extra_build_args(self) -> dict[str, str]:
        return {"MODEL_NAME": self.model.model_name}

    def _read_runtime_versions(self) -> dict[str, str] | None:
        code, output = self._container.exec_run(["tensorflow_model_server", "--version"])
        if code != 0:
            return None
        # "TensorFlow ModelServer: 2.19.0-rc0+dev.sha.xxx\nTensorFlow Library: 2.19.0"
        versions = {}
        for line in output.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if value.strip():
                versions[name.strip()] = value.strip()
        return versions or None

    def command(self) -> list[str] | None:
        # Appended to the image entrypoint's own flags (port, model name, base path).
        flags = self.config.thread_flags()
        if self.config.batching:
            flags += ["--enable_batching=true", f"--batching_parameters_file={CONTAINER_BATCHING_FILE}"]
        return flags or None

    def _write_context_files(self, context: Path) -> None:
        shutil.copytree(self.model.artifact_path, context / "savedmodel")
        (context / "batching_parameters.txt").write_text(self.config.batching_parameters(), encoding="utf-8")

    def _check_health(self) -> str | None:
        import httpx

        self._check_container_running()
        response = httpx.get(f"{self._host_url(REST_PORT)}/v1/models/{self.model.model_name}", timeout=2.0)
        if response.status_code != 200:
            return f"model status answered {response.status_code}"
        fatal, problem = model_status_problem(response.json())
        if fatal:
            raise ServerError(f"{self.describe()} could not load the model: {problem}", self.tail())
        return problem

    def _make_endpoint(self) -> Endpoint:
        return Endpoint(
            encoding="tfserving",
            url=self._host_url(REST_PORT),
            model=self.model.model_name,
            input_name=self.model.input_name,
            grpc_target=f"127.0.0.1:{self.host_ports[GRPC_PORT]}",
        )
