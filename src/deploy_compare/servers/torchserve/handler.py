"""TorchServe handler packaged into the .mar: TF Serving's row format in, predictions out.

This file runs inside TorchServe's Python worker, not inside deploy_compare: it imports
only torch, the standard library and torchscript_optimize.py (the runtime's loading rule, which
the archive ships beside it), and reads everything it needs from `handler_config.json`, which
the archive builder writes next to it.

Request body, either
  JSON (TF Serving's REST row format):   {"instances": [sample, ...]}
    a model with several inputs, TF Serving's named rows:
                                         {"instances": [{"input_ids": [...], "attention_mask": [...]}, ...]}
  binary: the batch's raw little-endian bytes in the model's dtype, samples back to back
          (Content-Type application/octet-stream over REST; the `data` input over gRPC).
          The sample shape and dtype are the model's (handler_config.json), so the batch
          size is len(body) / bytes per sample; a length that is not a whole number of
          samples is a 400. One tensor only: a model with several inputs takes JSON.
Response body (both):                    {"predictions": [[logit, ...], ...]}

TorchServe hands `handle` a LIST of requests (server-side batching groups several HTTP
requests into one call). All valid instances of all requests are stacked and run through
the model ONCE, then split back per request. A malformed request gets a 400 with
{"error": "..."} for itself only; the other requests of the batch still succeed.

TorchServe picks the one class defined in this module as the service, so keep it at
exactly one class (errors are plain ValueError for that reason).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

import torch

try:  # in TorchServe's worker: shipped beside this file by the archive (archive.py)
    from torchscript_optimize import load_fastest, one_sample
except ImportError:  # imported by deploy_compare itself (its tests)
    from deploy_compare.runtimes.torchscript_optimize import load_fastest, one_sample

logger = logging.getLogger(__name__)

CONFIG_NAME = "handler_config.json"
#: the log line naming what the worker applied, followed by a JSON object
APPLIED_MARKER = "deploy-compare handler applied:"
# The profiling executor profiles on the first call and optimises on the second (its
# default profiling depth is 1); a few more make sure the fused graph is the one measured.
WARMUP_CALLS = 5
# Response header telling the client how many requests shared this model call, so
# server-side batching is observable without parsing server logs.
BATCH_HEADER = "X-Deploy-Compare-Batch-Requests"
# Response header with the handler's phases of this call in microseconds,
# "parse=..;model=..;post=..": where the worker's time goes, beside the frontend's metrics.
PHASES_HEADER = "X-Deploy-Compare-Handler-Us"
_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "int8": torch.int8,
    "uint8": torch.uint8,
}


def load_model(path: str, config: dict) -> tuple[Any, dict[str, str]]:
    """(callable taking and returning torch tensors, what was applied) for the archive's
    format: "torchscript" (default), "aoti" or "onnx" (ONNX Runtime, also the int8 file)."""
    fmt = config.get("format", "torchscript")
    if fmt == "aoti":
        from torch._inductor import aoti_load_package

        return aoti_load_package(path), {"format": "aoti"}
    if fmt == "onnx":
        return _onnx_model(path, config)
    module, applied = load_fastest(
        torch, lambda: torch.jit.load(path, map_location="cpu").eval(), config.get("frozen") is True, _example(config)
    )
    return module, {"format": "torchscript", "optimize_for_inference": applied}


def _example(config: dict) -> list[torch.Tensor]:
    """One sample per input (ones): what load_fastest times and the worker warms up on."""
    specs = config.get("inputs") or [{"shape": config["shape"], "dtype": config["dtype"]}]
    example = one_sample(torch, [(s["shape"], s["dtype"]) for s in specs])
    assert example is not None  # the archive builder refuses dynamic inner dimensions
    return example


def _onnx_model(path: str, config: dict) -> tuple[Any, dict[str, str]]:
    """An ONNX Runtime session behind a torch-in, torch-out callable. The session options
    mirror deploy_compare.runtimes.onnxruntime.session_options (ORT_ENABLE_ALL, intra-op
    threads = the worker's torch threads, one inter-op thread), which this file cannot import."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    threads = config.get("torch_threads")
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    output = session.get_outputs()[0].name

    def run(*tensors: torch.Tensor) -> torch.Tensor:
        feeds = {name: t.numpy() for name, t in zip(names, tensors)}
        return torch.from_numpy(session.run([output], feeds)[0])

    applied = {
        "format": "onnx",
        "graph_optimization_level": "ORT_ENABLE_ALL",
        "intra_op_threads": str(threads) if threads else "default (all cores)",
    }
    return run, applied


class DeployCompareHandler:
    """Loads the artifact (TorchScript, AOTInductor package or ONNX file) and serves
    {"instances": [...]} -> {"predictions": [...]}."""

    def __init__(self) -> None:
        self.initialized = False
        self.model: Any = None
        self.applied: dict[str, str] = {}
        self.sample_shape: tuple[int, ...] = ()
        self.dtype = torch.float32
        self.input_name = "input"
        #: (name, sample shape, dtype) of each input when the model takes several, in forward() order
        self.inputs: list[tuple[str, tuple[int, ...], torch.dtype]] = []

    def initialize(self, context: Any) -> None:
        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, CONFIG_NAME), encoding="utf-8") as fh:
            config = json.load(fh)
        # Shape without the batch dimension; dynamic inner dimensions (None) are not
        # supported by the row format here, so the builder refuses them up front.
        self.sample_shape = tuple(int(d) for d in config["shape"][1:])
        self.dtype = _DTYPES[config["dtype"]]
        self.input_name = config.get("input_name", "input")
        specs = config.get("inputs") or []
        if len(specs) > 1:
            self.inputs = [(s["name"], tuple(int(d) for d in s["shape"][1:]), _DTYPES[s["dtype"]]) for s in specs]
        threads = config.get("torch_threads")
        if threads:
            # Several workers on few cores oversubscribe unless each worker is capped.
            torch.set_num_threads(int(threads))
        path = os.path.join(model_dir, context.manifest["model"]["serializedFile"])
        self.model, self.applied = load_model(path, config)
        # TorchScript's profiling executor specialises on the first calls (and ONNX Runtime
        # and AOTInductor allocate on theirs); run them now so the first measured request is
        # not a compile.
        warm_args = _example(config)
        with torch.inference_mode():
            for _ in range(WARMUP_CALLS):
                self.model(*warm_args)
        self.initialized = True
        # One line the launcher and the tests read back from the server log: what this
        # worker applied (format, optimization, threads), as the in-process rows record it.
        self.applied["torch_threads"] = str(torch.get_num_threads())
        logger.info("%s %s", APPLIED_MARKER, json.dumps(self.applied, sort_keys=True))

    def _from_bytes(self, body: bytes | bytearray) -> list[torch.Tensor]:
        """A binary body: whole samples of the model's shape and dtype, little-endian (one input)."""
        if self.inputs:
            names = [name for name, _, _ in self.inputs]
            raise ValueError(f"a binary body carries one tensor; this model takes the named inputs {names} as JSON")
        itemsize = torch.empty((), dtype=self.dtype).element_size()
        per_sample = itemsize
        for d in self.sample_shape:
            per_sample *= d
        if not body or len(body) % per_sample:
            raise ValueError(
                f"a binary body must hold whole samples of shape {list(self.sample_shape)} "
                f"({per_sample} bytes each); got {len(body)} bytes"
            )
        if sys.byteorder != "little":
            raise ValueError("binary bodies are little-endian; this worker runs on a big-endian host")
        flat = torch.frombuffer(bytearray(body), dtype=self.dtype)
        return [flat.reshape((len(body) // per_sample, *self.sample_shape))]

    def _parse(self, request: Any) -> list[torch.Tensor]:
        """One request -> one (k, *sample_shape) tensor per input, or ValueError with a clear message."""
        body = request.get("body") if isinstance(request, dict) else None
        if body is None and isinstance(request, dict):
            body = request.get("data")
        # JSON arrives decoded (TorchServe decodes an application/json body) or as bytes
        # starting with "{"; any other bytes are a binary tensor (one whose first byte
        # happens to be "{" is still read as one: it does not parse as JSON).
        if isinstance(body, (bytes, bytearray)) and bytes(body[:1]) != b"{":
            try:
                return self._from_bytes(body)
            except ValueError as exc:
                raise ValueError(f"request body is not valid JSON, nor a binary tensor: {exc}") from None
        if isinstance(body, (bytes, bytearray)):
            try:
                body = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                try:
                    return self._from_bytes(body)
                except ValueError:
                    pass
                raise ValueError(f"request body is not valid JSON ({exc.__class__.__name__}: {exc})") from None
        elif isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError as exc:
                raise ValueError(f"request body is not valid JSON ({exc})") from None
        if not isinstance(body, dict) or "instances" not in body:
            raise ValueError('request body must be a JSON object {"instances": [...]}')
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ValueError('"instances" must be a non-empty list of samples')
        if self.inputs:
            return self._parse_named(instances)
        try:
            tensor = torch.tensor(instances, dtype=self.dtype)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f'"instances" is not a rectangular numeric array ({exc})') from None
        if tuple(tensor.shape[1:]) != self.sample_shape:
            raise ValueError(
                f"each instance must have shape {list(self.sample_shape)}; got {list(tensor.shape[1:])} "
                f"(batch of {tensor.shape[0] if tensor.dim() else 0})"
            )
        return [tensor]

    def _parse_named(self, instances: list[Any]) -> list[torch.Tensor]:
        """Named rows [{"input_ids": [...], "attention_mask": [...]}, ...] -> one tensor per input."""
        names = [name for name, _, _ in self.inputs]
        tensors = []
        for name, shape, dtype in self.inputs:
            if not all(isinstance(row, dict) and name in row for row in instances):
                raise ValueError(f"each instance must be an object with the inputs {names}; {name!r} is missing")
            try:
                tensor = torch.tensor([row[name] for row in instances], dtype=dtype)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise ValueError(f"input {name!r} is not a rectangular numeric array ({exc})") from None
            if tuple(tensor.shape[1:]) != shape:
                raise ValueError(
                    f"input {name!r} of each instance must have shape {list(shape)}; got {list(tensor.shape[1:])}"
                )
            tensors.append(tensor)
        return tensors

    def handle(self, data: list[Any], context: Any) -> list[Any]:
        started = time.perf_counter()
        parsed: list[list[torch.Tensor] | None] = []
        responses: list[Any] = [None] * len(data)
        for idx, request in enumerate(data):
            context.set_response_content_type(idx, "application/json")
            context.set_response_header(idx, BATCH_HEADER, str(len(data)))
            try:
                parsed.append(self._parse(request))
            except ValueError as exc:
                parsed.append(None)
                context.set_response_status(400, "Bad Request", idx)
                responses[idx] = {"error": str(exc)}
        good = [t for t in parsed if t is not None]
        parsed_at = modelled_at = time.perf_counter()
        if good:
            with torch.inference_mode():
                # one model call for all requests: each input's rows stacked, in forward() order
                out = self.model(*(torch.cat(columns, dim=0) for columns in zip(*good)))
            modelled_at = time.perf_counter()
            if isinstance(out, (tuple, list)):
                out = out[0]
            rows = out.float().tolist()
            start = 0
            for idx, tensor in enumerate(parsed):
                if tensor is None:
                    continue
                count = tensor[0].shape[0]
                responses[idx] = {"predictions": rows[start : start + count]}
                start += count
        done = time.perf_counter()
        phases = (
            f"parse={(parsed_at - started) * 1e6:.0f};model={(modelled_at - parsed_at) * 1e6:.0f};"
            f"post={(done - modelled_at) * 1e6:.0f}"
        )
        for idx in range(len(data)):
            context.set_response_header(idx, PHASES_HEADER, phases)
        return responses
