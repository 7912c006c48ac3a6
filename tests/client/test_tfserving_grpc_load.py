"""The load client speaking TF Serving's gRPC Predict over a Unix socket (native TF Serving's
way) to a TEST-ONLY servicer built from tensorflow-serving-api's own generated service code.

TF Serving cannot run here. This servicer is not TF Serving and runs no model: it parses each
request with the official PredictRequest class and answers the input tensor back as the
output (identity), or NOT_FOUND for an unknown model as TF Serving does. It shows the whole
client path (payloads, transport, parsing, top-1 check, bytes, errors by status) holds with
the official message classes at the other end; no figure from it reaches a report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import threading

import numpy as np
import pytest

from deploy_compare.clients import LoadConfig, run_closed_loop
from deploy_compare.clients.endpoint import Endpoint
from deploy_compare.clients.payload import build_payloads
from deploy_compare.errors import LoadError

pytestmark = [pytest.mark.client, pytest.mark.timeout(120)]

SHORT = LoadConfig(duration_s=0.5, warmup_s=0.1, min_requests=20, concurrency=2)


@pytest.fixture(scope="module")
def identity_servicer():
    """grpc.aio server on a Unix socket in a thread of its own; yields the socket's path."""
    import grpc  # the lock pins grpcio and tensorflow-serving-api: no skip when they are missing
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc as service

    class Identity(service.PredictionServiceServicer):
        async def Predict(self, request, context):  # noqa: N802 - the generated method name
            if request.model_spec.name != "digits":
                await context.abort(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({request.model_spec.name})"
                )
            response = predict_pb2.PredictResponse()
            response.model_spec.name = request.model_spec.name
            response.outputs["output_0"].CopyFrom(request.inputs["input"])
            return response

    folder = tempfile.mkdtemp(prefix="dc-tfs-test-")  # short: a socket path has at most 107 bytes
    path = f"{folder}/grpc.sock"
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    async def serve():
        server = grpc.aio.server()
        service.add_PredictionServiceServicer_to_server(Identity(), server)
        server.add_insecure_port(f"unix:{path}")
        await server.start()
        started.set()
        await stop.wait()
        await server.stop(None)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the test servicer did not start"
    try:
        yield path
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_load_client_speaks_predict_over_a_unix_socket(identity_servicer):
    x = np.random.default_rng(0).normal(size=(16, 10)).astype(np.float32)
    ep = Endpoint(
        url="http://127.0.0.1:1",  # REST is not used by the grpc encoding's run
        encoding="tfserving_grpc",
        model="digits",
        input_name="input",
        grpc_target=f"unix:{identity_servicer}",
    )
    payloads = build_payloads(ep, x, x, batch_size=4)  # identity: the reference logits are the input
    result = run_closed_loop(ep, payloads, SHORT)
    assert result.encoding == "grpc" and result.error_count == 0, result.error_examples
    assert result.completed >= SHORT.min_requests and result.top1_agreement == 1.0
    assert result.request_bytes == payloads.body_bytes > x[:4].nbytes  # tensor bytes + message framing
    assert result.response_bytes is not None and result.response_bytes > x[:4].nbytes

    unknown = dataclasses.replace(ep, model="no-such-model")
    bad = build_payloads(unknown, x, x, batch_size=4)
    with pytest.raises(LoadError, match="gRPC NOT_FOUND.* on the first request"):
        run_closed_loop(unknown, bad, SHORT)
    counted = run_closed_loop(unknown, bad, dataclasses.replace(SHORT, preflight=False))
    assert counted.completed == 0 and counted.status_counts == {"gRPC NOT_FOUND": counted.requests}
    assert counted.error_examples["gRPC NOT_FOUND"].startswith("NOT_FOUND: Servable not found")
