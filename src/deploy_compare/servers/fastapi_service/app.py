"""The do-it-yourself baseline: a FastAPI app answering KServe v2 around one
in-process runtime (ONNX Runtime on the ONNX file, or LiteRT on a quantized .tflite).

Runs inside uvicorn, started by launcher.py as
    python -m uvicorn deploy_compare.servers.fastapi_service.app:create_app --factory ...
with DC_SERVICE_SPEC naming a JSON file the launcher wrote (service_spec below). Every
route needs the bearer token; bad input is a 4xx with {"error": "<message>"}:
    401 missing or wrong token          404 unknown model
    400 body not JSON / not a v2 request / wrong tensor name, shape or datatype
Encodings: v2 JSON tensors, and the binary tensor data extension (a request with an
Inference-Header-Content-Length header: JSON header + raw tensor bytes; outputs come back
binary when it asks with binary_data_output or per output binary_data), as Triton does.
With "grpc_port" in the spec, the same process also answers GRPCInferenceService (grpc_server.py).
GET /metrics: this process's cumulative counters in Prometheus text (the server's view,
metrics.py): requests answered, microseconds from arrival to the model call (queue) and
in the model call (compute).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ...errors import ProtocolError
from ...wire.v2_binary import BINARY_CT, HEADER_LENGTH, split_binary_body, tensors_from_binary
from ...wire.v2_json import DATATYPES, datatype_of, tensor_from_json
from .config import SPEC_ENV


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _pin_to_cores(count: int) -> None:
    """At most `count` cores (the first this process may use): the edge-service path's one
    core, like a device (its Stack.max_server_cores; `run` has already narrowed the set)."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(cores[:count]))


class Counters:
    """Cumulative request timing of this process (one lock: requests finish on many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.queue_ns = 0
        self.compute_ns = 0

    def add(self, queue_ns: int, compute_ns: int) -> None:
        with self._lock:
            self.requests += 1
            self.queue_ns += queue_ns
            self.compute_ns += compute_ns

    def prometheus(self) -> str:
        with self._lock:
            requests, queue_us, compute_us = self.requests, self.queue_ns / 1000.0, self.compute_ns / 1000.0
        return (
            "# TYPE dc_requests_total counter\n"
            f"dc_requests_total {requests}\n"
            "# TYPE dc_queue_duration_us_total counter\n"
            f"dc_queue_duration_us_total {queue_us}\n"
            "# TYPE dc_compute_duration_us_total counter\n"
            f"dc_compute_duration_us_total {compute_us}\n"
        )


class Service:
    """The loaded model and what a request must look like."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from ...manifest import load_manifest
        from ...runtimes import open_runtime

        if spec.get("max_cores"):
            _pin_to_cores(int(spec["max_cores"]))
        manifest_dir = Path(spec["manifest_dir"])
        manifest = load_manifest(manifest_dir)
        self.runtime = open_runtime(manifest_dir, manifest, spec["artifact"], threads=spec.get("threads"))
        self.model_name: str = spec["model_name"]
        self.token: str = Path(spec["token_file"]).read_text(encoding="utf-8").strip()
        entry = manifest.artifact(spec["artifact"])
        self.input_name = entry.inputs[0].name
        self.input_shape = list(entry.inputs[0].shape)  # artifact layout; None = any batch
        self.input_dtype = np.dtype(entry.inputs[0].dtype)
        #: every input (a text model has several, e.g. input_ids and attention_mask), in model order
        self.inputs = [(t.name, list(t.shape), np.dtype(t.dtype)) for t in entry.inputs]
        self.output_name = entry.outputs[0].name
        self.platform = spec.get("platform", "")
        # ONNX Runtime sessions take concurrent run() calls; a TFLite interpreter does not
        # (concurrent invokes corrupt its tensors), so its requests take turns.
        self._lock = threading.Lock() if self.runtime.name == "tflite" else contextlib.nullcontext()
        self.counters = Counters()

    def authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    def input_from(self, doc: Any, binary: bytes | None = None) -> np.ndarray | tuple[np.ndarray, ...]:
        """The request's input tensor(s), checked against the model; ProtocolError says why not.
        `binary`: the bytes after the JSON header of a binary-extension request.

        Several inputs (a text model's input_ids and attention_mask) come back as a tuple in
        the artifact's input order, matched by name (a v2 request may list them in any order)."""
        names = [name for name, _, _ in self.inputs]
        if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or len(doc["inputs"]) != len(names):
            if len(names) == 1:
                raise ProtocolError('a v2 inference request is {"inputs": [<one tensor>]}')
            raise ProtocolError(f'a v2 inference request is {{"inputs": [...]}} with {len(names)} tensors: {names}')
        tensors = doc["inputs"]
        by_name = {t.get("name"): i for i, t in enumerate(tensors) if isinstance(t, dict)}
        unknown = [n for n in by_name if n not in names]
        if unknown or (len(names) > 1 and len(by_name) != len(names)):
            name = unknown[0] if unknown else None
            want = repr(names[0]) if len(names) == 1 else f"{names}"
            raise ProtocolError(f"unknown input {name!r}; the model takes {want}")
        for name, _, dtype in self.inputs:
            tensor = tensors[by_name.get(name, 0)]
            expected_type = datatype_of(dtype)
            if isinstance(tensor, dict) and tensor.get("datatype") in DATATYPES and tensor["datatype"] != expected_type:
                raise ProtocolError(f"input {name!r} must be {expected_type}, got {tensor['datatype']}")
        if binary is None:
            decoded = [
                tensor_from_json(t, f"input {t.get('name')!r}" if isinstance(t, dict) else "input") for t in tensors
            ]
        else:
            decoded = tensors_from_binary(tensors, binary, f"input {names[0]!r}" if len(names) == 1 else "inputs")
        arrays = [self._checked(decoded[by_name.get(name, 0)], name, shape) for name, shape, _ in self.inputs]
        if len({len(a) for a in arrays}) != 1:
            raise ProtocolError(f"inputs {names} have different batch sizes {[len(a) for a in arrays]}")
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def checked(self, x: np.ndarray) -> np.ndarray:
        """`x` if its shape fits the model's (first) input; ProtocolError otherwise."""
        return self._checked(x, self.input_name, self.input_shape)

    @staticmethod
    def _checked(x: np.ndarray, name: str, shape: list[int | None]) -> np.ndarray:
        if x.ndim != len(shape) or any(e is not None and g != e for g, e in zip(x.shape, shape)):
            want = ["N" if d is None else d for d in shape]
            raise ProtocolError(f"input {name!r} has shape {list(x.shape)}; the model takes {want}")
        if x.shape[0] == 0:
            raise ProtocolError(f"input {name!r} has an empty batch")
        return x

    def run(self, x: np.ndarray | tuple[np.ndarray, ...], arrived_ns: int | None = None) -> np.ndarray:
        """The model's output for `x`; the queue/compute counters (metrics.py) learn the split
        (`arrived_ns`: when the request arrived; None: no queue time known)."""
        with self._lock:
            began = time.perf_counter_ns()
            y = np.asarray(self.runtime.predict_artifact(x), dtype=np.float32)
            self.counters.add(began - (began if arrived_ns is None else arrived_ns), time.perf_counter_ns() - began)
        return y

    def infer(self, x: np.ndarray | tuple[np.ndarray, ...], arrived_ns: int) -> dict[str, Any]:
        y = self.run(x, arrived_ns)
        return {
            "model_name": self.model_name,
            "outputs": [
                {"name": self.output_name, "shape": list(y.shape), "datatype": "FP32", "data": y.reshape(-1).tolist()}
            ],
        }


def create_app(spec: dict[str, Any] | None = None) -> FastAPI:
    """The app; uvicorn calls it with no argument (--factory) and the spec comes from the file."""
    if spec is None:
        spec = json.loads(Path(os.environ[SPEC_ENV]).read_text(encoding="utf-8"))
    service = Service(spec)
    grpc_port = spec.get("grpc_port")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if not grpc_port:
            yield
            return
        from .grpc_server import start

        server = await start(service, int(grpc_port))
        try:
            yield
        finally:
            await server.stop(grace=1.0)

    app = FastAPI(title="deploy-compare baseline", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        request.state.arrived_ns = time.perf_counter_ns()
        if not service.authorized(request):
            return _error(401, "missing or wrong bearer token")
        return await call_next(request)

    def known(name: str) -> JSONResponse | None:
        return None if name == service.model_name else _error(404, f"unknown model {name!r}")

    @app.get("/metrics")
    def metrics() -> Response:
        return PlainTextResponse(service.counters.prometheus(), media_type="text/plain; version=0.0.4")

    @app.get("/v2/health/live")
    def live() -> Response:
        return Response(status_code=200)

    @app.get("/v2/health/ready")
    def ready() -> Response:
        return Response(status_code=200)

    @app.get("/v2/models/{name}/ready")
    def model_ready(name: str) -> Response:
        return known(name) or Response(status_code=200)

    @app.get("/v2/models/{name}")
    def metadata(name: str) -> Any:
        return known(name) or {
            "name": service.model_name,
            "platform": service.platform,
            "inputs": [
                {"name": name, "datatype": datatype_of(dtype), "shape": [-1 if d is None else d for d in shape]}
                for name, shape, dtype in service.inputs
            ],
            "outputs": [{"name": service.output_name, "datatype": "FP32"}],
        }

    # A plain `def`: FastAPI runs it in its thread pool, so a blocking inference call never
    # stalls the event loop (the runtimes release the GIL while they compute).
    @app.post("/v2/models/{name}/infer")
    def infer(request: Request, name: str, raw: tuple[bytes, str | None] = _raw_body()) -> Any:  # noqa: B008 - FastAPI's dependency idiom
        missing = known(name)
        if missing is not None:
            return missing
        body, header_length = raw
        if header_length is not None:
            return _infer_binary(service, body, header_length, request.state.arrived_ns)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"request body is not JSON ({exc})")
        try:
            x = service.input_from(doc)
        except ProtocolError as exc:
            return _error(400, str(exc))
        return service.infer(x, request.state.arrived_ns)

    return app


def _wants_binary_output(doc: dict[str, Any]) -> bool:
    params = doc.get("parameters")
    if isinstance(params, dict) and params.get("binary_data_output"):
        return True
    outputs = doc.get("outputs")
    return isinstance(outputs, list) and any(
        isinstance(o, dict) and isinstance(o.get("parameters"), dict) and o["parameters"].get("binary_data")
        for o in outputs
    )


def _infer_binary(service: Service, body: bytes, header_length: str, arrived_ns: int) -> Response:
    """A binary tensor data extension request: JSON header + raw bytes in, the same out."""
    try:
        length = int(header_length)
        doc, rest = split_binary_body(body, length)
        x = service.input_from(doc, rest)
    except ValueError:
        return _error(400, f"{HEADER_LENGTH} must be an integer, got {header_length!r}")
    except ProtocolError as exc:
        return _error(400, str(exc))
    y = service.run(x, arrived_ns)
    output: dict[str, Any] = {"name": service.output_name, "shape": list(y.shape), "datatype": "FP32"}
    if not _wants_binary_output(doc):
        output["data"] = y.reshape(-1).tolist()
        return JSONResponse({"model_name": service.model_name, "outputs": [output]})
    raw = np.ascontiguousarray(y, dtype="<f4").tobytes()
    output["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps({"model_name": service.model_name, "outputs": [output]}, separators=(",", ":")).encode()
    return Response(header + raw, media_type=BINARY_CT, headers={HEADER_LENGTH: str(len(header))})


def _raw_body() -> Any:
    """(body bytes, Inference-Header-Content-Length or None), read by FastAPI before the
    endpoint runs in its thread."""
    from fastapi import Depends

    async def read(request: Request) -> tuple[bytes, str | None]:
        return await request.body(), request.headers.get(HEADER_LENGTH)

    return Depends(read)
