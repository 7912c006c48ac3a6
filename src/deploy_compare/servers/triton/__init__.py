"""Triton Inference Server (descriptor). KServe v2 over REST.

Natively: the `tritonserver` binary of the nvidia-pytriton wheel, which has only the Python
backend, so the served model is model.py running ONNX Runtime on the exported ONNX file,
in the small separate environment .venv-triton (requirements-triton.lock; `make venv`).
In Docker: the pinned official image serving the ONNX file with its onnxruntime backend
(Dockerfile.triton). repository.py writes the model repository for both.
"""

from __future__ import annotations

from ..registry import Stack
from .config import TritonConfig

# Triton reads a restricted gRPC protocol's key from the metadata `triton-grpc-protocol-<key>`.
GRPC_KEY_METADATA = "triton-grpc-protocol-authorization"

STACKS = (
    Stack(
        name="triton",
        label="Triton",
        artifact="onnx",
        encoding_names=("kserve_v2",),
        encodings={"json": "kserve_v2", "binary": "kserve_v2_binary", "grpc": "kserve_v2_grpc"},
        grpc_key_metadata=GRPC_KEY_METADATA,
        config_class=TritonConfig,
        launchers={
            "native": "deploy_compare.servers.triton.native:NativeTriton",
            "docker": "deploy_compare.servers.triton.docker:DockerTriton",
        },
        native_unavailable="deploy_compare.servers.triton.native:native_unavailable_reason",
        env_versions="deploy_compare.servers.triton.native:env_versions",
        docker_unavailable="deploy_compare.servers.triton.docker:image_unavailable_reason",
        threads_field="threads",
        effective="deploy_compare.servers.triton.effective:effective_settings",
        metrics="deploy_compare.servers.triton.metrics:metrics_source",
        mode_labels={
            "native": "Triton, Python backend + ONNX Runtime",
            "docker": "Triton, onnxruntime backend",
        },
        runs="native: tritonserver from nvidia-pytriton in .venv-triton (Python backend + ONNX Runtime); "
        "Docker: Dockerfile.triton (official image, onnxruntime backend)",
        order=30,
        tunables=("instances", "dynamic_batching", "max_queue_delay_us", "preferred_batch_sizes", "max_batch_size"),
        # The defaults batch dynamically with a 1 ms window: try a longer window aiming at 8,
        # a second instance, and no dynamic batching at all.
        tune_grid=(
            {"max_queue_delay_us": 5000, "preferred_batch_sizes": [8]},
            {"instances": 2},
            {"dynamic_batching": False},
        ),
    ),
)
