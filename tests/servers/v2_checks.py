"""Checks every KServe v2 stack must pass against its REAL server (FastAPI baseline, Triton).

Each asserts; the stack's own test module calls them on the session's shared server (native_servers.py).
"""

from __future__ import annotations

import httpx
import numpy as np
from server_helpers import eval_batch


def v2_body(name: str, x: np.ndarray, datatype: str = "FP32") -> dict:
    return {"inputs": [{"name": name, "shape": list(x.shape), "datatype": datatype, "data": x.reshape(-1).tolist()}]}


def post(endpoint, body, *, headers=None, url=None) -> httpx.Response:
    return httpx.post(
        url or endpoint.predict_url,
        json=body if not isinstance(body, bytes) else None,
        content=body if isinstance(body, bytes) else None,
        headers=endpoint.request_headers() if headers is None else headers,
        timeout=30.0,
    )


def bad_input_is_a_4xx_with_a_message(
    endpoint, artifacts, manifest, artifact: str, known_5xx: tuple[str, ...] = ()
) -> dict[str, int]:
    """Wrong shape, wrong dtype, malformed body, unknown model, wrong tensor name: each a 4xx whose
    body says what is wrong. Returns the status per kind (stacks differ in 400 vs 404).

    `known_5xx` names kinds a stack is known to answer with a 5xx (still with a message):
    a finding about that server, asserted so a change in it shows up."""
    x, _ = eval_batch(artifacts, manifest, artifact, n=2)
    name = endpoint.input_name
    cases = {
        "wrong_shape": v2_body(name, x.reshape(2, -1)),
        "wrong_dtype": v2_body(name, x.astype(np.int32), "INT32"),
        "malformed_body": b'{"inputs": [',
        "not_v2": {"instances": x.tolist()},
        "wrong_input_name": v2_body("no_such_input", x),
    }
    statuses: dict[str, int] = {}
    for kind, body in cases.items():
        r = post(endpoint, body)
        low, high = (500, 600) if kind in known_5xx else (400, 500)
        assert low <= r.status_code < high, (kind, r.status_code, r.text)
        assert r.json().get("error"), (kind, r.text)
        statuses[kind] = r.status_code
    unknown = post(endpoint, v2_body(name, x), url=endpoint.predict_url.replace(f"/{endpoint.model}/", "/no_model/"))
    assert 400 <= unknown.status_code < 500 and "no_model" in unknown.json().get("error", ""), unknown.text
    statuses["unknown_model"] = unknown.status_code
    return statuses
