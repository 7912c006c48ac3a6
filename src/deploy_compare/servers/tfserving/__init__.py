"""TensorFlow Serving serving the SavedModel (descriptor).

The implementation still lives beside this folder (tfserving_native.py, tfserving_docker.py;
dockerfiles/Dockerfile.tfserving); its encodings besides row JSON in encodings.py (columnar
JSON, gRPC PredictionService/Predict).
"""

from __future__ import annotations

from ..registry import ServeFlag, Stack
from .config import TFServingConfig

ENCODINGS = "deploy_compare.servers.tfserving.encodings"

STACKS = (
    Stack(
        name="tfserving",
        label="TF Serving",
        artifact="savedmodel",
        encoding_names=("tfserving",),
        encodings={"json": "tfserving", "json_columnar": "tfserving_columnar", "grpc": "tfserving_grpc"},
        encoding_classes={
            "tfserving": f"{ENCODINGS}:TFServingRest",
            "tfserving_columnar": f"{ENCODINGS}:TFServingColumnar",
            "tfserving_grpc": f"{ENCODINGS}:TFServingGrpc",
        },
        config_class=TFServingConfig,
        launchers={
            "native": "deploy_compare.servers.tfserving.native:NativeTFServing",
            "docker": "deploy_compare.servers.tfserving.docker:DockerTFServing",
        },
        native_unavailable="deploy_compare.servers.tfserving.native:native_unavailable_reason",
        metrics="deploy_compare.servers.tfserving.metrics:metrics_source",
        effective="deploy_compare.servers.tfserving.effective:effective_settings",
        threads_field="threads",
        runs="native: `tensorflow_model_server` on PATH; Docker: Dockerfile.tfserving (tensorflow/serving)",
        order=20,
        tunables=("batching", "max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches"),
        tune_grid=(
            {"batching": True, "max_batch_size": 8, "batch_timeout_micros": 1000, "num_batch_threads": 1},
            {"batching": True, "max_batch_size": 32, "batch_timeout_micros": 5000, "num_batch_threads": 2},
        ),
        serve_flags=(
            ServeFlag(
                "batch-size",
                "max_batch_size, batching on when > 1",
                convert=lambda size: {"batching": size > 1, "max_batch_size": max(1, size)},
            ),
            ServeFlag(
                "max-batch-delay-ms",
                "batch_timeout_micros = ms * 1000",
                convert=lambda ms: {"batch_timeout_micros": ms * 1000},
            ),
        ),
    ),
)
