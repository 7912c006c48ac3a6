"""TorchServe serving the TorchScript artifact (descriptor); its handler also serves the
AOTInductor package and the ONNX files through ONNX Runtime (handler.py load_model), so the
runtime can be held fixed across stacks.
"""

from __future__ import annotations

from ..registry import ServeFlag, Stack
from .config import TorchServeConfig

ENCODINGS = "deploy_compare.servers.torchserve.encodings"

STACKS = (
    Stack(
        name="torchserve",
        label="TorchServe",
        artifact="torchscript",
        artifacts=("torchscript", "aoti", "onnx", "onnx_int8"),
        encoding_names=("torchserve",),
        encodings={"json": "torchserve", "binary": "torchserve_binary", "grpc": "torchserve_grpc"},
        encoding_classes={
            "torchserve": f"{ENCODINGS}:TorchServeRest",
            "torchserve_binary": f"{ENCODINGS}:TorchServeBinary",
            "torchserve_grpc": f"{ENCODINGS}:TorchServeGrpc",
        },
        config_class=TorchServeConfig,
        launchers={
            "native": "deploy_compare.servers.torchserve.native:NativeTorchServe",
            "docker": "deploy_compare.servers.torchserve.docker:DockerTorchServe",
        },
        native_unavailable="deploy_compare.servers.torchserve.native:native_unavailable_reason",
        threads_field="torch_threads",
        effective="deploy_compare.servers.torchserve.effective:effective_settings",
        maintenance="TorchServe: limited maintenance since 2025 (pytorch/serve #3396; README notice, 2025).",
        packages=("torchserve", "torch-model-archiver"),
        native_versions="deploy_compare.servers.torchserve.native:runtime_versions",
        metrics="deploy_compare.servers.torchserve.metrics:metrics_source",
        runs="native: `torchserve` (pip) + Java 17; Docker: Dockerfile.torchserve (pytorch/torchserve)",
        order=10,
        tunables=("workers", "batch_size", "max_batch_delay_ms"),
        # Server batching first (one worker, requests merged per handler call), then a second
        # worker process, then both.
        tune_grid=(
            {"batch_size": 8, "max_batch_delay_ms": 5},
            {"workers": 2},
            {"workers": 2, "batch_size": 8, "max_batch_delay_ms": 5},
        ),
        serve_flags=(
            ServeFlag("workers", "worker processes", "workers"),
            ServeFlag("batch-size", "batch_size (server batching)", "batch_size"),
            ServeFlag("max-batch-delay-ms", "max_batch_delay_ms (wait to fill a batch)", "max_batch_delay_ms"),
            ServeFlag("torch-threads", "torch_threads (intra-op threads per worker)", "torch_threads"),
        ),
    ),
)
