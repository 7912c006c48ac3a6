"""KServe v2 / Open Inference Protocol, REST with JSON tensors. Pure functions, no I/O.

    POST {base}/v2/models/{model}/infer
        {"inputs": [{"name": "<input>", "shape": [n, ...], "datatype": "FP32", "data": [flat, row-major]}]}
    200 -> {"model_name": .., "outputs": [{"name": .., "shape": [n, k], "datatype": "FP32", "data": [...]}]}
    4xx/5xx -> {"error": "<message>"}
    GET {base}/v2/health/ready, {base}/v2/models/{model}/ready -> 200 when ready

The server side (servers/fastapi_service) uses the same datatype table and the same
decoding of a request tensor, so both ends agree on one definition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ProtocolError
from .checks import checked_rows, response_object

# v2 datatype <-> numpy dtype (the tensor types a vision model here takes or returns).
DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
DATATYPE_OF = {np.dtype(v): k for k, v in DATATYPES.items()}


def datatype_of(dtype: Any) -> str:
    try:
        return DATATYPE_OF[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ProtocolError(f"no KServe v2 datatype for numpy dtype {dtype!r}") from None


def encode_infer_request(batch: np.ndarray | Mapping[str, np.ndarray], input_name: str | None = None) -> bytes:
    """The input tensor(s) as compact UTF-8 JSON; `data` is the flattened row-major array.

    One array goes under `input_name`; a dict of named arrays (a model with several inputs)
    becomes one tensor per entry, in order, each with its own datatype (INT64 token ids).
    """
    named = dict(batch) if isinstance(batch, Mapping) else {input_name: batch}
    tensors = []
    for name, array in named.items():
        if name is None:
            raise ProtocolError("a v2 request tensor needs a name")
        if array.ndim < 1:
            raise ProtocolError(f"a batch needs a leading batch dimension, got shape {array.shape}")
        tensors.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype_of(array.dtype),
                "data": array.reshape(-1).tolist(),
            }
        )
    return json.dumps({"inputs": tensors}, separators=(",", ":")).encode()


def tensor_from_json(tensor: Any, where: str = "tensor") -> np.ndarray:
    """A v2 JSON tensor {"shape", "datatype", "data"} as a numpy array of that shape and type.

    ProtocolError names what is wrong (missing field, unknown datatype, data that does not
    fill the shape); the server turns it into a 400.
    """
    if not isinstance(tensor, dict):
        raise ProtocolError(f"{where} must be an object with name, shape, datatype, data")
    missing = [k for k in ("shape", "datatype", "data") if k not in tensor]
    if missing:
        raise ProtocolError(f"{where} lacks {', '.join(missing)}")
    shape = tensor["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ProtocolError(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
    datatype = tensor["datatype"]
    if datatype not in DATATYPES:
        raise ProtocolError(f"{where}.datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    try:
        flat = np.asarray(tensor["data"], dtype=np.dtype(DATATYPES[datatype]))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"{where}.data is not a {datatype} array ({exc})") from None
    expected = int(np.prod(shape)) if shape else 1
    if flat.size != expected:
        raise ProtocolError(f"{where}.data has {flat.size} elements, shape {shape} needs {expected}")
    return flat.reshape(shape)


def decode_infer_response(body: bytes, batch_size: int | None = None) -> np.ndarray:
    """The first output tensor of a v2 response as float64 (batch, ...); ProtocolError otherwise."""
    doc = response_object(body)
    outputs = doc.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        raise ProtocolError(f"response JSON has no 'outputs' list (keys: {sorted(doc)[:5]})")
    out = tensor_from_json(outputs[0], "outputs[0]").astype(np.float64)
    return checked_rows(out, "outputs[0]", batch_size)
