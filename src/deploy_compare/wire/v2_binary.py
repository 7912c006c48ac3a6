"""KServe v2 REST with the binary tensor data extension (Triton's, which the FastAPI service
implements too). Pure functions, no I/O; the client's adapter is clients/v2_binary.py.

Request:   POST {base}/v2/models/{model}/infer
           Content-Type: application/octet-stream
           Inference-Header-Content-Length: <n>       (bytes of the JSON header)
           body = JSON header (n bytes) + raw little-endian tensor bytes, inputs in order
    {"inputs": [{"name", "shape", "datatype", "parameters": {"binary_data_size": <bytes>}}, ...],
     "parameters": {"binary_data_output": true}}
Response:  the same framing: a JSON header whose outputs carry parameters.binary_data_size,
           then their bytes. The header's length is also in Inference-Header-Content-Length;
           the parser does not need it: the JSON header is one object, found by raw_decode
           on a latin-1 view of the body (one char per byte, so its end IS the byte offset).
A plain JSON response (an error, or a server that ignored binary_data_output) parses too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ProtocolError
from .checks import checked_rows
from .v2_json import DATATYPES, datatype_of, tensor_from_json

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_CT = "application/octet-stream"
_DECODER = json.JSONDecoder()


def encode_binary_request(
    tensors: Sequence[tuple[str, np.ndarray]], *, binary_output: bool = True
) -> tuple[bytes, int]:
    """(body, JSON header length) for named input tensors, each sent as raw little-endian bytes."""
    inputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in tensors:
        array = np.asarray(array)
        if array.ndim < 1:
            raise ProtocolError(f"a batch needs a leading batch dimension, got shape {array.shape}")
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        inputs.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype_of(array.dtype),
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    doc: dict[str, Any] = {"inputs": inputs}
    if binary_output:
        doc["parameters"] = {"binary_data_output": True}
    header = json.dumps(doc, separators=(",", ":")).encode()
    return header + b"".join(blobs), len(header)


def split_binary_body(body: bytes, header_length: int | None = None) -> tuple[dict, bytes]:
    """(JSON header object, the bytes after it). `header_length` None: found by parsing."""
    try:
        if header_length is None:
            doc, end = _DECODER.raw_decode(body.decode("latin-1"))
        else:
            if not 0 < header_length <= len(body):
                raise ProtocolError(f"{HEADER_LENGTH} {header_length} does not fit a body of {len(body)} bytes")
            doc, end = json.loads(body[:header_length]), header_length
    except ValueError as exc:
        raise ProtocolError(f"body does not start with a JSON header ({exc}): {body[:80]!r}") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"the JSON header is not an object: {body[:80]!r}")
    return doc, body[end:]


def tensors_from_binary(tensors: Any, rest: bytes, where: str) -> list[np.ndarray]:
    """Each v2 tensor of a header, its data from `rest` (binary_data_size) or its JSON `data`."""
    if not isinstance(tensors, list) or not tensors:
        raise ProtocolError(f"{where} must be a non-empty list of tensors")
    arrays = []
    offset = 0
    for i, tensor in enumerate(tensors):
        label = f"{where}[{i}]"
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            arrays.append(tensor_from_json(tensor, label))
            continue
        if not isinstance(size, int) or size < 0 or offset + size > len(rest):
            raise ProtocolError(f"{label}: binary_data_size {size!r} exceeds the {len(rest) - offset} bytes left")
        datatype, shape = tensor.get("datatype"), tensor.get("shape")
        if datatype not in DATATYPES:
            raise ProtocolError(f"{label}.datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ProtocolError(f"{label}.shape must be a list of non-negative integers, got {shape!r}")
        dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
        count = int(np.prod(shape)) if shape else 1
        if count * dtype.itemsize != size:
            raise ProtocolError(f"{label}: {size} bytes do not hold shape {shape} of {datatype}")
        arrays.append(np.frombuffer(rest, dtype=dtype, count=count, offset=offset).reshape(shape))
        offset += size
    return arrays


def decode_binary_response(body: bytes, batch_size: int | None = None) -> np.ndarray:
    """The first output tensor of a (binary or JSON) v2 response as float64 (batch, ...)."""
    doc, rest = split_binary_body(body)
    if "error" in doc:
        raise ProtocolError(f"server reported an error: {str(doc['error'])[:200]}")
    out = tensors_from_binary(doc.get("outputs"), rest, "outputs")[0].astype(np.float64)
    return checked_rows(out, "outputs[0]", batch_size)
