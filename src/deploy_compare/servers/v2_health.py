"""Server-side KServe v2 helpers shared by the stacks that speak it (Triton, the FastAPI service)."""

from __future__ import annotations

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
        protocol="kserve_v2",
        model=model.model_name,
        headers=headers,
        input_name=model.input_name,
        grpc_target=grpc_target,
        grpc_headers=grpc_headers,
    )
