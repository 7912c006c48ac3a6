"""The FastAPI service's gRPC side: KServe v2 GRPCInferenceService/ModelInfer on grpc.aio,
in the same process and event loop as uvicorn (started and stopped by the app's lifespan),
around the same Service (model, checks, key) as the REST routes.

Tensors in raw_input_contents / out raw_output_contents (little-endian), as Triton answers.
Errors as gRPC statuses: UNAUTHENTICATED (missing or wrong `authorization: Bearer <key>`
metadata), NOT_FOUND (unknown model), INVALID_ARGUMENT (not the model's input).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from ...errors import ProtocolError
from ...wire.v2_grpc import V2_SERVICE, ModelInferRequest, ModelInferResponse
from ...wire.v2_json import DATATYPES

if TYPE_CHECKING:
    from .app import Service


def _input(service: Service, request: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    """The request's tensor(s) from raw_input_contents; several named inputs (a text model's
    input_ids and attention_mask) come back as a tuple in the artifact's order, matched by name."""
    names = [name for name, _, _ in service.inputs]
    if len(request.inputs) != len(names):
        if len(names) == 1:
            raise ProtocolError(f"a request carries one input tensor, got {len(request.inputs)}")
        raise ProtocolError(f"a request carries {len(names)} input tensors {names}, got {len(request.inputs)}")
    if len(request.raw_input_contents) != len(request.inputs):
        raise ProtocolError("the input's data must be in raw_input_contents")
    by_name = {t.name: (t, raw) for t, raw in zip(request.inputs, request.raw_input_contents, strict=True)}
    unknown = [n for n in by_name if n not in names]
    if unknown or len(by_name) != len(names):
        want = repr(names[0]) if len(names) == 1 else f"{names}"
        raise ProtocolError(f"unknown input {(unknown or [None])[0]!r}; the model takes {want}")
    arrays = []
    for name, model_shape, model_dtype in service.inputs:
        tensor, raw = by_name[name]
        if DATATYPES.get(tensor.datatype) != model_dtype.name:
            raise ProtocolError(f"input {name!r} must be {model_dtype.name}, got {tensor.datatype}")
        shape = list(tensor.shape)
        dtype = model_dtype.newbyteorder("<")
        count = int(np.prod(shape)) if shape else 1
        if len(raw) != count * dtype.itemsize:
            raise ProtocolError(f"{len(raw)} bytes do not hold shape {shape} of {tensor.datatype}")
        arrays.append(service._checked(np.frombuffer(raw, dtype=dtype).reshape(shape), name, model_shape))
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


def handlers(service: Service) -> grpc.GenericRpcHandler:
    expected = f"Bearer {service.token}".encode()

    async def model_infer(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        arrived = time.perf_counter_ns()  # the queue/compute split counts from here (metrics.py)
        given = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not hmac.compare_digest(str(given).encode(), expected):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            request = ModelInferRequest.FromString(body)
        except Exception as exc:  # protobuf's DecodeError
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a ModelInferRequest ({exc})")
        if request.model_name != service.model_name:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {request.model_name!r}")
        try:
            x = _input(service, request)
        except ProtocolError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        # In a thread, as the REST route runs in FastAPI's pool: the loop keeps serving.
        y = await asyncio.to_thread(service.run, x, arrived)
        response = ModelInferResponse(model_name=service.model_name)
        out = response.outputs.add(name=service.output_name, datatype="FP32")
        out.shape.extend(y.shape)
        response.raw_output_contents.append(np.ascontiguousarray(y, dtype="<f4").tobytes())
        return response.SerializeToString()

    return grpc.method_handlers_generic_handler(
        V2_SERVICE, {"ModelInfer": grpc.unary_unary_rpc_method_handler(model_infer)}
    )


async def start(service: Service, port: int) -> grpc.aio.Server:
    server = grpc.aio.server(options=(("grpc.max_receive_message_length", -1),))
    server.add_generic_rpc_handlers((handlers(service),))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise OSError(f"gRPC: cannot listen on 127.0.0.1:{port}")
    await server.start()
    return server
