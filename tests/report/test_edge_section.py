"""The report's edge section: which file to ship per device, the two converter routes, emulated devices."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from deploy_compare.bench_local.result import results_document
from deploy_compare.errors import ConfigError
from deploy_compare.report.build import build_document
from deploy_compare.report.document import Paragraph, Table
from deploy_compare.report.inputs import load_inputs

pytestmark = pytest.mark.unit

# The reference run's figures live in this folder's conftest (not importable by name here).
_spec = importlib.util.spec_from_file_location("report_fixture_data", Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
fixture_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture_data)
ARTIFACTS, LOCAL_P50, PI_MACHINE, REF_ACC = (
    fixture_data.ARTIFACTS,
    fixture_data.LOCAL_P50,
    fixture_data.PI_MACHINE,
    fixture_data.REF_ACC,
)
artifact_entry, bench = fixture_data.artifact_entry, fixture_data.bench

TFLITE = [n for n in ARTIFACTS if ARTIFACTS[n][0] == "tflite"]


def _edge(run_dir):
    doc = build_document(load_inputs(run_dir))
    (section,) = [s for s in doc.sections if s.key == "edge"]
    return section


def _ship(section) -> dict[str, list[str]]:
    table = next(b for b in section.blocks if isinstance(b, Table) and b.headers[:2] == ["device result", "ship"])
    return {row[0]: row for row in table.rows}


def _expected(budget_points: float) -> str:
    """The fastest (edge p50) TFLite variant whose accuracy is within the budget, from the fixture's figures;
    among p50s within 5% of the fastest (a tie), the smallest file."""
    ok = [n for n in TFLITE if (REF_ACC - ARTIFACTS[n][3]) * 100 <= budget_points]
    fastest = min(LOCAL_P50[n] for n in ok)
    return min((n for n in ok if LOCAL_P50[n] <= fastest * 1.05), key=lambda n: ARTIFACTS[n][2])


@pytest.mark.parametrize("budget", [None, 0.5, 0.0])
def test_ship_picks_the_fastest_variant_within_the_budget_per_device(make_results, make_run, budget):
    results = make_results()
    if budget is not None:
        results.settings = {**results.settings, "report": {"edge_accuracy_budget_points": budget}}
    ship = _ship(_edge(make_run(results)))
    want = _expected(1.0 if budget is None else budget)
    for label in ("this machine (edge profile)", "device rpi4"):
        row = ship[label]
        assert row[1] == want and row[2] == f"{want}.bin"
        assert row[4] == f"{ARTIFACTS[want][2] / 1024:.1f}"  # size KiB
        assert row[5] != "-" and " / " in row[5]  # peak memory, init / overall
    if budget is None:
        assert want == "tflite_int8"  # 0.83 points below PyTorch, within the default 1 point


def test_invalid_budget_is_refused_before_a_run_starts(tmp_path):
    from deploy_compare.deploy.config import load_run_config

    path = tmp_path / "bad.toml"
    path.write_text("[report]\nedge_accuracy_budget_points = -1\n")
    with pytest.raises(ConfigError, match="edge_accuracy_budget_points"):
        load_run_config(path)


def test_an_emulated_device_gets_no_recommendation_and_no_latencies(make_results, make_run):
    run_dir = make_run(make_results(), edge=False)
    machine = {**PI_MACHINE, "emulated": "emulator: qemu-aarch64-static -cpu cortex-a72 -L /rootfs"}
    rows = [dataclasses.replace(bench(n, "edge", 1, device="qemu-arm64", scale=300.0), machine=machine) for n in TFLITE]
    (run_dir / "edge").mkdir()
    (run_dir / "edge" / "qemu-arm64.json").write_text(json.dumps(results_document(rows, "qemu-arm64", ["run_edge.py"])))
    section = _edge(run_dir)
    row = _ship(section)["device qemu-arm64"]
    assert row[1] == "no recommendation" and "EMULATED" in row[-1]
    lead = next(b for b in section.blocks if isinstance(b, Paragraph) and b.lead == "Device qemu-arm64")
    assert lead.tone == "warning" and "EMULATED, not a device" in lead.text
    table = section.blocks[section.blocks.index(lead) + 1]
    assert isinstance(table, Table) and not any("ms" in h for h in table.headers)
    emulated_p50 = {f"{r.p50_ms:.3f}" for r in rows}
    assert not emulated_p50 & {cell for r in table.rows for cell in r}


def test_routes_are_compared_per_variant_when_both_made_one(make_results, make_run):
    results = make_results()
    for variant, size in (("fp32", 50_000), ("int8", 16_000)):
        entry = dataclasses.asdict(artifact_entry(f"tflite_{variant}"))
        entry.update(name=f"litert_torch_{variant}", path=f"litert_{variant}.tflite", size_bytes=size)
        entry["details"] = {"route": "litert-torch"}
        results.artifacts[f"litert_torch_{variant}"] = entry
    table = next(
        b for b in _edge(make_run(results)).blocks if isinstance(b, Table) and b.headers[:2] == ["variant", "converter"]
    )
    by = {(r[0], r[1]): r for r in table.rows}
    assert set(by) == {
        ("fp32", "onnx2tf + TFLiteConverter"),
        ("fp32", "litert-torch (from PyTorch)"),
        ("int8", "onnx2tf + TFLiteConverter"),
        ("int8", "litert-torch (from PyTorch)"),
    }
    assert by[("int8", "litert-torch (from PyTorch)")][3] == f"{16_000 / 1024:.1f}"
    assert by[("fp32", "onnx2tf + TFLiteConverter")][5] != "-"  # its local edge-profile p50


def test_a_tie_in_p50_goes_to_the_smallest_file(make_results, make_run):
    from deploy_compare.report.edge import pick_to_ship

    results = make_results()
    rows = [dict(bench("tflite_fp32", "edge", 1).to_dict(), p50_ms=0.0429)]
    rows.append(dict(bench("tflite_dynamic_int8", "edge", 1).to_dict(), p50_ms=0.0440))  # 2.6% slower: a tie
    rows.append(dict(bench("tflite_fp16", "edge", 1).to_dict(), p50_ms=0.0500))  # 17% slower: not a tie
    row, eligible = pick_to_ship(rows, results.artifacts, REF_ACC, 1.0)
    assert eligible == 3 and row is not None and row["artifact"] == "tflite_dynamic_int8"
