"""The do-it-yourself baseline: FastAPI under uvicorn around an in-process runtime, KServe v2
REST JSON (descriptors). app.py runs in the server process, launcher.py starts it.

Two targets from one app: ONNX Runtime on the ONNX file (the baseline a team writes before
adopting a serving framework), and LiteRT on the dynamic-range int8 .tflite, pinned to one
core with one thread (the inference service an edge box would run).
"""

from __future__ import annotations

from ..registry import Stack
from .config import EdgeServiceConfig, FastAPIServiceConfig

# KServe v2 JSON, its binary tensor extension (app.py) and GRPCInferenceService (grpc_server.py).
V2_ENCODINGS = {"json": "kserve_v2", "binary": "kserve_v2_binary", "grpc": "kserve_v2_grpc"}
LAUNCHER = "deploy_compare.servers.fastapi_service.launcher:NativeFastAPIService"
AVAILABLE = "deploy_compare.servers.fastapi_service.launcher:native_unavailable_reason"
METRICS = "deploy_compare.servers.fastapi_service.metrics:metrics_source"
EFFECTIVE = "deploy_compare.servers.fastapi_service.effective:effective_settings"

STACKS = (
    Stack(
        name="fastapi_onnx",
        label="FastAPI + ONNX Runtime, baseline",
        artifact="onnx",
        # app.py opens any runtime through runtimes.open_runtime
        artifacts=("onnx", "onnx_int8", "torchscript", "aoti", "tflite_fp32", "tflite_int8"),
        encoding_names=("kserve_v2",),
        encodings=V2_ENCODINGS,
        config_class=FastAPIServiceConfig,
        packages=("fastapi", "uvicorn"),
        launchers={"native": LAUNCHER},
        native_unavailable=AVAILABLE,
        metrics=METRICS,
        effective=EFFECTIVE,
        threads_field="threads",
        tunables=("workers", "threads"),
        tune_grid=({"workers": 2}, {"workers": 4}),
        runs="native: uvicorn + fastapi + onnxruntime from the lock; no Docker image (it is the toolkit itself)",
        order=40,
    ),
    Stack(
        name="fastapi_litert",
        label="FastAPI + LiteRT int8 on 1 core, edge-service path",
        artifact="tflite_dynamic_int8",
        encoding_names=("kserve_v2",),
        encodings=V2_ENCODINGS,
        config_class=EdgeServiceConfig,
        launchers={"native": LAUNCHER},
        native_unavailable=AVAILABLE,
        metrics=METRICS,
        effective=EFFECTIVE,
        max_server_cores=1,
        runs="native: the same app with ai-edge-litert, 1 worker, 1 thread, pinned to 1 core",
        order=50,
    ),
)
