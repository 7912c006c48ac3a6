"""What the stacks that speak KServe v2 share on the server side (Triton, the FastAPI
service): the health check, the endpoint, and the launcher methods built on them."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx

from .base import Endpoint
from .model_spec import ServedModel


def ready_problem(base_url: str, model_name: str, headers: dict[str, str]) -> str | None:
    """Healthy = the server is ready AND the model is ready (KServe v2 health endpoints)."""
    server = httpx.get(f"{base_url}/v2/health/ready", headers=headers, timeout=2.0)
    if server.status_code != 200:
        return f"/v2/health/ready answered {server.status_code}"
    model = httpx.get(f"{base_url}/v2/models/{model_name}/ready", headers=headers, timeout=2.0)
    if model.status_code != 200:
        return f"model {model_name} not ready ({model.status_code} {model.text[:120]})"
    return None


def endpoint_for(
    base_url: str,
    model: ServedModel,
    headers: dict[str, str],
    grpc_target: str | None = None,
    grpc_headers: dict[str, str] | None = None,
) -> Endpoint:
    return Endpoint(
        url=base_url,
        encoding="kserve_v2",
        model=model.model_name,
        headers=headers,
        input_name=model.input_name,
        grpc_target=grpc_target,
        grpc_headers=grpc_headers,
    )


class KServeV2Server:
    """Launcher methods of a KServe v2 server guarded by a bearer token (mixed into a
    Launcher). The launcher sets `_token` and says where it listens (http_url, grpc_target);
    a server that reads the gRPC key from other metadata than `authorization` names it in
    `grpc_key_metadata`."""

    model: ServedModel
    _token: str
    grpc_key_metadata: str | None = None

    @property
    def http_url(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def grpc_target(self) -> str | None:
        return None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _v2_problem(self) -> str | None:
        return ready_problem(self.http_url, self.model.model_name, self._headers())

    def _make_endpoint(self) -> Endpoint:
        key = self.grpc_key_metadata
        grpc_headers = {key: f"Bearer {self._token}"} if key else None
        return endpoint_for(self.http_url, self.model, self._headers(), self.grpc_target, grpc_headers)


class NativeKServeV2Server(KServeV2Server):
    """A KServe v2 server run natively on 127.0.0.1: the launcher sets `_port`, `_grpc_port`,
    `_proc` (its process) and `_watcher` (its LogWatcher, which fails the start on a fatal line)."""

    _port: int | None
    _grpc_port: int | None
    _proc: subprocess.Popen | None
    _watcher: Any

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def grpc_target(self) -> str | None:
        return f"127.0.0.1:{self._grpc_port}"

    def _check_health(self) -> str | None:
        assert self._proc is not None
        self._watcher.raise_if_failed(self._proc, self.describe())  # type: ignore[attr-defined]  # the Launcher's
        return self._v2_problem()
