"""Checks every served stack's encodings pass against a REAL running server (test_conformance.py
runs them on each stack's shared native server; the Docker and text-model tests on their own)."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from deploy_compare.clients import LoadConfig, payloads_from_export, run_closed_loop
from deploy_compare.clients.connections import build_requests, close_all, make_transports
from deploy_compare.clients.encodings import encoding_for
from deploy_compare.errors import LoadError
from deploy_compare.servers.registry import get
from floors import QUANTIZED_TOP1_FLOOR

SHORT = LoadConfig(duration_s=0.5, warmup_s=0.1, min_requests=20, concurrency=2)


def encoded(endpoint, kind: str, encoding: str):
    return dataclasses.replace(endpoint, encoding=get(kind).encoding_name(encoding))


def answers(endpoint, payloads, indices) -> list[np.ndarray]:
    """The parsed predictions of some payloads, sent through the load client's own transports."""

    async def go():
        transports = make_transports(1, payloads)
        requests = build_requests(payloads, 10.0)
        try:
            return [await transports[0].send(requests[i]) for i in indices]
        finally:
            await close_all(transports)

    adapter = encoding_for(endpoint)
    return [adapter.parse_response(s, b, payloads.batch_size) for s, b in asyncio.run(go())]


def predictions_equal_the_reference(endpoint, kind, artifacts, manifest, atol, batch_size=1):
    """Every encoding the stack speaks (encoding_equals_the_reference); returns
    encoding -> (request bytes, response bytes)."""
    return {
        encoding: encoding_equals_the_reference(endpoint, kind, encoding, artifacts, manifest, atol, batch_size)
        for encoding in get(kind).spoken_encodings()
    }


def encoding_equals_the_reference(endpoint, kind, encoding, artifacts, manifest, atol, batch_size=1):
    """One encoding through the load client: the same predictions as the exported reference
    (within atol; atol None, a quantized artifact: the same classes), top-1 agreement under load
    at least its floor, no errors, bytes per request/response recorded. Returns those bytes."""
    stack = get(kind)
    reference = np.load(artifacts / "eval.npz")["reference"]
    ep = encoded(endpoint, kind, encoding)
    payloads = payloads_from_export(
        ep, artifacts, manifest, artifact=stack.artifact, batch_size=batch_size, max_payloads=8
    )
    assert payloads.encoding == encoding
    got = answers(ep, payloads, range(4))
    for i, preds in enumerate(got):
        want = reference[i * batch_size : (i + 1) * batch_size]
        if atol is None:  # a quantized artifact: the same classes
            assert np.array_equal(preds.argmax(-1), want.argmax(-1)), encoding
        else:
            np.testing.assert_allclose(preds, want, atol=atol, err_msg=encoding)
    result = run_closed_loop(ep, payloads, SHORT)
    assert result.encoding == encoding and result.error_count == 0, (encoding, result.error_examples)
    # Under load every answer's class is checked against the reference: a float artifact must
    # agree on every one, a quantized one at least QUANTIZED_TOP1_FLOOR (None: nothing checked).
    floor = 1.0 if atol is not None else QUANTIZED_TOP1_FLOOR
    assert result.top1_agreement is not None and result.top1_agreement >= floor, (encoding, result.top1_agreement)
    assert result.request_bytes == payloads.body_bytes > 0
    assert result.response_bytes is not None and result.response_bytes > 0
    return result.request_bytes, result.response_bytes


def grpc_errors_are_counted_by_status(endpoint, kind, artifacts, manifest, denied="UNAUTHENTICATED"):
    """A wrong key fails fast in the preflight; statuses other than OK are counted by name.
    `denied`: the status this stack answers a wrong key with."""
    stack = get(kind)
    ep = encoded(endpoint, kind, "grpc")
    wrong = {k: "Bearer not-the-key" for k in ep.grpc_metadata()}
    bad_key = dataclasses.replace(ep, headers={"Authorization": "Bearer not-the-key"}, grpc_headers=wrong)
    payloads = payloads_from_export(bad_key, artifacts, manifest, artifact=stack.artifact, max_payloads=4)
    with pytest.raises(LoadError, match=rf"gRPC {denied}.* on the first request"):
        run_closed_loop(bad_key, payloads, SHORT)
    result = run_closed_loop(bad_key, payloads, dataclasses.replace(SHORT, preflight=False))
    assert result.completed == 0 and result.errors["grpc_status"] == result.requests > 0
    assert result.status_counts == {f"gRPC {denied}": result.requests}
    assert result.error_examples[f"gRPC {denied}"].startswith(denied)
    gone = dataclasses.replace(ep, grpc_target="127.0.0.1:1")  # nothing listens on port 1
    payloads = payloads_from_export(gone, artifacts, manifest, artifact=stack.artifact, max_payloads=4)
    with pytest.raises(LoadError, match="gRPC UNAVAILABLE.* on the first request"):
        run_closed_loop(gone, payloads, SHORT)
