"""Checks every decoder of a response body ends with (JSON bodies, output rows)."""

from __future__ import annotations

import json

import numpy as np

from ..errors import ProtocolError


def response_object(body: bytes) -> dict:
    """A JSON response body as an object; ProtocolError for anything else or an {"error": ...}."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"response body is not JSON ({exc}): {body[:80]!r}") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"response JSON is not an object: {body[:80]!r}")
    if "error" in doc:
        raise ProtocolError(f"server reported an error: {str(doc['error'])[:200]}")
    return doc


def checked_rows(out: np.ndarray, what: str, batch_size: int | None) -> np.ndarray:
    """A decoded output, refused when it is empty, a scalar, or not one row per sample sent
    (every encoding's decoder ends here)."""
    if out.ndim < 1 or out.size == 0:
        raise ProtocolError(f"{what} is empty or scalar (shape {out.shape})")
    if batch_size is not None and out.shape[0] != batch_size:
        raise ProtocolError(f"{what} has {out.shape[0]} rows for a batch of {batch_size}")
    return out
