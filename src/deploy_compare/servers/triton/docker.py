"""Triton in a container built from Dockerfile.triton: the pinned official image serving the
ONNX file with its onnxruntime backend.

Build context (assembled here): Dockerfile, models/<model>/{config.pbtxt, 1/model.onnx}.
The HTTP port 8000, the gRPC port 8001 (GRPCInferenceService, the grpc encoding) and the
metrics port 8002 are published, on 127.0.0.1 only; every HTTP API and gRPC protocol needs
the bearer token (gRPC: as `triton-grpc-protocol-authorization` metadata, like natively).
No registry is reachable from the machines this toolkit was measured on, so
`image_unavailable_reason` says so before anything is built, and auto mode then runs
Triton natively.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ..docker_base import DockerLauncher, default_base_image
from ..kserve_v2 import KServeV2Server
from ..model_spec import ServedModel
from . import GRPC_KEY_METADATA
from .config import TritonConfig
from .native import RESTRICTED_APIS
from .repository import onnxruntime_repository

HTTP_PORT = "8000/tcp"
GRPC_PORT = "8001/tcp"
METRICS_PORT = "8002/tcp"


def image_unavailable_reason(config: TritonConfig | None = None) -> str | None:
    """None when the base image (`[triton] base_image`, else the pinned official one) is on
    this machine; pulling is left to the user (it is several GB and needs a registry), so a
    missing image is a reason, not a download."""
    image = (config.base_image if config is not None else None) or default_base_image(DockerTriton.dockerfile_name)
    try:
        import docker

        client = docker.from_env(timeout=5)  # type: ignore[attr-defined]  # docker has no stubs for it
    except Exception as exc:
        return f"no Docker engine answers ({str(exc).splitlines()[0][:160]})"
    try:
        client.images.get(image)
        return None
    except Exception:
        return (
            f"the base image {image} is not on this machine and is not pulled at run time "
            f"(`docker pull {image}` where a registry is reachable, or set [triton] base_image)"
        )
    finally:
        client.close()


class DockerTriton(KServeV2Server, DockerLauncher):
    kind = "triton"
    grpc_key_metadata = GRPC_KEY_METADATA
    config_class = TritonConfig
    dockerfile_name = "Dockerfile.triton"
    image_repo = "deploy-compare/triton"

    def __init__(self, model: ServedModel, run_dir: Path, config: TritonConfig, client: Any = None) -> None:
        super().__init__(model, run_dir, config, client)
        self.config: TritonConfig = config
        self._token = secrets.token_urlsafe(24)

    @property
    def container_ports(self) -> tuple[str, ...]:
        return (HTTP_PORT, GRPC_PORT, METRICS_PORT)

    @property
    def metrics_url(self) -> str | None:
        return f"{self._host_url(METRICS_PORT)}/metrics" if METRICS_PORT in self.host_ports else None

    def command(self) -> list[str] | None:
        return [
            "tritonserver",
            "--model-repository=/models",
            "--allow-grpc=true",
            "--allow-metrics=true",
            "--allow-cpu-metrics=false",
            "--allow-gpu-metrics=false",
            "--exit-on-error=true",
            "--strict-readiness=true",
            f"--http-restricted-api={RESTRICTED_APIS}:Authorization=Bearer {self._token}",
            # gRPC metadata keys are lowercase: the client sends the key as `authorization`.
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:authorization=Bearer {self._token}",
        ]

    def _write_context_files(self, context: Path) -> None:
        onnxruntime_repository(context / "models", self.model, self.config)

    @property
    def http_url(self) -> str:
        return self._host_url(HTTP_PORT)

    @property
    def grpc_target(self) -> str | None:
        return f"127.0.0.1:{self.host_ports[GRPC_PORT]}"

    def _check_health(self) -> str | None:
        self._check_container_running()
        return self._v2_problem()
