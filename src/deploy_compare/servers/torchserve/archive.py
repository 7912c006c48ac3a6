"""TorchServe model archive (.mar) and config.properties, built from the served artifact.

The archive holds the artifact (TorchScript, AOTInductor package or ONNX file), our handler
(handler.py), the runtime's TorchScript loading rule it imports (runtimes/torchscript_optimize.py)
and handler_config.json (input shape/dtype from the manifest, torch threads). It is built
with the official torch-model-archiver, so what runs is what a TorchServe user deploys.

config.properties is shared by the native and Docker launchers; only addresses and paths
differ. Security choices (kept on purpose):
- token authorization stays ON (TorchServe >= 0.11 default); never --disable-token-auth;
- the model-management API stays off (enable_model_api=false: no register/unregister);
  TorchServe 0.12 cannot switch the management listener itself off, so natively it binds
  127.0.0.1 on a private port and needs the management key;
- no per-model pip installs, no URLs: nothing needs the internet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ...errors import ServerError
from ...runtimes import torchscript_optimize
from ..model_spec import ServedModel
from .config import TorchServeConfig

HANDLER_FILE = Path(__file__).with_name("handler.py")
# The handler imports it as a sibling: the runtime's rule for loading TorchScript at its fastest.
OPTIMIZE_FILE = Path(torchscript_optimize.__file__)
HANDLER_CONFIG_NAME = "handler_config.json"
MODEL_VERSION = "1.0"


def handler_config(model: ServedModel, config: TorchServeConfig) -> dict:
    return {
        "input_name": model.input_name,
        "shape": model.input_shape,
        "dtype": model.input_dtype,
        "layout": model.input_layout,
        # every input in forward() order (a text model: input_ids, attention_mask, both int64)
        "inputs": [{"name": t.name, "shape": t.shape, "dtype": t.dtype} for t in model.entry.inputs],
        "torch_threads": config.torch_threads,
        # how the worker loads the file (handler.py load_model): torchscript, aoti or onnx
        "format": model.entry.format,
        "frozen": model.entry.details.get("frozen") is True,
    }


def build_mar(model: ServedModel, config: TorchServeConfig, model_store: Path, timeout_s: float = 300.0) -> Path:
    """Write <model_store>/<name>.mar; return its path. Raises ServerError with the tool's output."""
    model_store = Path(model_store)
    model_store.mkdir(parents=True, exist_ok=True)
    staging = model_store.parent / "archive-src"
    staging.mkdir(parents=True, exist_ok=True)
    cfg_path = staging / HANDLER_CONFIG_NAME
    cfg_path.write_text(json.dumps(handler_config(model, config), indent=2) + "\n", encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "model_archiver.model_packaging",
        "--model-name",
        model.model_name,
        "--version",
        MODEL_VERSION,
        "--serialized-file",
        str(model.artifact_path),
        "--handler",
        str(HANDLER_FILE),
        "--extra-files",
        f"{cfg_path},{OPTIMIZE_FILE}",
        "--export-path",
        str(model_store),
        "--force",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ServerError(f"torch-model-archiver did not finish within {timeout_s:g} s") from None
    mar = model_store / f"{model.model_name}.mar"
    if done.returncode != 0 or not mar.is_file():
        output = (done.stdout + done.stderr).strip()
        raise ServerError(
            f"torch-model-archiver failed (exit {done.returncode}) for {model.artifact_path}",
            "\n".join(output.splitlines()[-30:]),
        )
    return mar


@dataclass(frozen=True)
class TorchServeAddresses:
    """Where TorchServe listens. Native: 127.0.0.1 on free ports; Docker: 0.0.0.0 inside
    the container (published on the host's 127.0.0.1 only)."""

    inference: str
    management: str
    metrics: str
    grpc_host: str
    grpc_inference_port: int
    grpc_management_port: int

    @classmethod
    def native(cls, ports: list[int]) -> TorchServeAddresses:
        inf, mgmt, metrics, g_inf, g_mgmt = ports
        return cls(
            f"http://127.0.0.1:{inf}",
            f"http://127.0.0.1:{mgmt}",
            f"http://127.0.0.1:{metrics}",
            "127.0.0.1",
            g_inf,
            g_mgmt,
        )

    @classmethod
    def container(cls) -> TorchServeAddresses:
        # gRPC inference is published (the grpc encoding); gRPC management is not.
        return cls("http://0.0.0.0:8080", "http://0.0.0.0:8081", "http://0.0.0.0:8082", "0.0.0.0", 7070, 7071)


#: request and response body limit: room for the largest request batch of an image preset
MAX_BODY_BYTES = 256 * 1024 * 1024


def config_properties(
    model: ServedModel, config: TorchServeConfig, model_store: str, addresses: TorchServeAddresses
) -> str:
    """The config.properties text (one model, loaded at start, workers/batching from config)."""
    models = {
        model.model_name: {
            MODEL_VERSION: {
                "defaultVersion": True,
                "marName": f"{model.model_name}.mar",
                "minWorkers": config.workers,
                "maxWorkers": config.workers,
                "batchSize": config.batch_size,
                "maxBatchDelay": config.max_batch_delay_ms,
                "responseTimeout": config.response_timeout_s,
            }
        }
    }
    lines = [
        "# generated by deploy-compare (servers/torchserve_archive.py)",
        f"inference_address={addresses.inference}",
        f"management_address={addresses.management}",
        f"metrics_address={addresses.metrics}",
        f"grpc_inference_address={addresses.grpc_host}",
        f"grpc_management_address={addresses.grpc_host}",
        f"grpc_inference_port={addresses.grpc_inference_port}",
        f"grpc_management_port={addresses.grpc_management_port}",
        f"enable_metrics_api={'true' if config.metrics_api else 'false'}",
        # Prometheus text with cumulative queue/inference counters (the server's view, metrics.py)
        f"metrics_mode={'prometheus' if config.metrics_api else 'log'}",
        # the per-minute system-metrics script would add noise to latency measurements
        "disable_system_metrics=true",
        # The frontend writes ~7 log lines per request (DEBUG/INFO of the worker thread, the
        # worker's stdout and metrics lines) through log4j; synchronous, that I/O sits in each
        # request's path. TorchServe's own setting for throughput: log asynchronously.
        "async_logging=true",
        "enable_model_api=false",
        "install_py_dep_per_model=false",
        # TorchServe refuses bodies over 6.5 MB by default (HTTP 413): a request of 32 96x96x3
        # images is 17 MB as JSON, of 32 224x224x3 ones about 90 MB. The same limit covers gRPC.
        f"max_request_size={MAX_BODY_BYTES}",
        f"max_response_size={MAX_BODY_BYTES}",
        "allowed_urls=file://.*",
        f"token_expiration_min={config.token_expiration_min}",
        f"model_store={model_store}",
        f"load_models={model.model_name}.mar",
        f"default_workers_per_model={config.workers}",
        "models=" + json.dumps(models, separators=(",", ":")),
        f"vmargs=-Xmx{config.java_heap_mb}m -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError",
    ]
    return "\n".join(lines) + "\n"
