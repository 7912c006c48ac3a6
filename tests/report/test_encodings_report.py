"""The report's encoding dimension, on a run built from the real result classes."""

from __future__ import annotations

import copy
import csv

import pytest

from deploy_compare.deploy.results import load_results
from deploy_compare.report import CSV_NAME, MARKDOWN_NAME, render_all

pytestmark = pytest.mark.unit


def _sweep(template: dict, p50_at_1: float, encoding: str, request_bytes: int) -> list[dict]:
    points = []
    for c in (1, 16):
        p = copy.deepcopy(template)
        p50 = p50_at_1 * (1 + c / 6)
        p.update(concurrency=c, p50_ms=p50, p99_ms=p50 * 2, throughput_rps=c * 1000 / (p50 * 1.2))
        p.update(encoding=encoding, request_bytes=request_bytes, response_bytes=100)
        points.append(p)
    return points


def test_each_encoding_gets_rows_json_its_cost_and_a_skipped_cell_its_reason(make_run, make_results):
    ts = make_results().served[0]
    t = ts.sweep[0]
    ts.encoding = "json"
    ts.sweep = _sweep(t, 4.0, "json", 3000)
    ts.encodings = [
        {
            "encoding": "binary",
            "status": "OK",
            "reason": None,
            "protocol": "torchserve_binary",
            "sweep": _sweep(t, 2.0, "binary", 256),
        },
        {
            "encoding": "grpc",
            "status": "OK",
            "reason": None,
            "protocol": "torchserve_grpc",
            "sweep": _sweep(t, 2.5, "grpc", 280),
        },
        {
            "encoding": "json_columnar",
            "status": "SKIPPED",
            "reason": "TorchServe does not speak it",
            "protocol": None,
            "sweep": [],
        },
    ]
    run = make_run(make_results(served=[ts]))
    assert load_results(run).served[0].encodings[0]["encoding"] == "binary"  # results.json round trip, schema-valid
    render_all(run)
    md = (run / MARKDOWN_NAME).read_text(encoding="utf-8")
    rows = [
        line
        for line in md.splitlines()
        if line.startswith("| TorchServe") and ("json" in line or "binary" in line or "grpc" in line)
    ]
    binary_c1 = next(r for r in rows if "| binary |" in r and "| 1 |" in r)
    json_c1 = next(r for r in rows if "| json |" in r and "| 1 |" in r)
    assert "| 256 |" in binary_c1 and "1.00x" in binary_c1  # the best p50 at c=1
    assert "| 3,000 |" in json_c1 and "2.00x" in json_c1  # JSON's p50 twice the best
    assert "SKIPPED" in md and "TorchServe does not speak it" in md
    assert "c=1: JSON p50 2.00x binary's" in md
    served = [r for r in csv.DictReader((run / CSV_NAME).open()) if r["kind"] == "served"]
    assert {(r["encoding"], r["concurrency"], r["status"]) for r in served} == {
        ("json", "1", "OK"),
        ("json", "16", "OK"),
        ("binary", "1", "OK"),
        ("binary", "16", "OK"),
        ("grpc", "1", "OK"),
        ("grpc", "16", "OK"),
        ("json_columnar", "", "SKIPPED"),
    }
    assert next(r for r in served if r["encoding"] == "binary")["request_bytes"] == "256"


def test_a_single_encoding_run_has_no_encoding_section(make_run, make_results):
    run = make_run(make_results())
    render_all(run)
    assert "JSON's cost" not in (run / MARKDOWN_NAME).read_text(encoding="utf-8")
