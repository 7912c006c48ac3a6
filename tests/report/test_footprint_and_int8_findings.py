"""The footprint verdict is judged on peak memory; an over-budget int8 file is shown, never picked;
the report says what keeping layers in float costs."""

from __future__ import annotations

import copy

import pytest

from deploy_compare.report.build import artifacts_section
from deploy_compare.report.inputs import ReportInputs
from deploy_compare.report.quantization import layer_tables, selective_summary, speedup_kept
from deploy_compare.report.verdicts import footprint_verdict

pytestmark = pytest.mark.unit


def _set_peak(results, artifact: str, peak: float) -> None:
    for row in results.local:
        if row["artifact"] == artifact:
            row["peak_rss_mib"] = peak


def test_footprint_is_judged_on_peak_memory_not_file_size(make_results):
    results = make_results()
    # tflite_int8 is the smallest file; give it the largest peak, and fp16 the smallest
    _set_peak(results, "tflite_int8", 400.0)
    _set_peak(results, "tflite_fp16", 70.0)
    verdict = footprint_verdict(results)
    assert verdict.winner == "tflite_fp16" and "peak RSS 70.0 MiB" in verdict.answer
    assert any(d.startswith("Smallest file: tflite_int8") for d in verdict.details)


def test_a_variant_no_row_measured_is_named_not_ranked_by_its_bytes(make_results):
    """`[local] artifacts` limited to some files: the others have a size but no peak memory, and a
    size in bytes must not be ranked against megabytes (it read "4266.39x the leader's")."""
    results = make_results()
    _set_peak(results, "tflite_fp16", 70.0)
    results.local = [r for r in results.local if r["artifact"] != "tflite_int8"]
    verdict = footprint_verdict(results)
    assert "tflite_int8" not in [c.name for c in verdict.ranked]
    assert any(
        d.startswith("Not ranked (no in-process row measured its memory)") and "tflite_int8" in d
        for d in verdict.details
    )
    assert all(c.value < 10_000 for c in verdict.ranked)  # every one a peak in MiB


def test_an_over_budget_variant_is_never_the_footprint_winner(make_results):
    results = make_results()
    _set_peak(results, "tflite_int8", 10.0)
    results.artifacts["tflite_int8"]["parity"]["over_budget"] = True
    assert footprint_verdict(results).winner != "tflite_int8"


def _with_selective(results, int8_p50: float, selective_p50: float):
    entry = copy.deepcopy(results.artifacts["tflite_int8"])
    entry.update(name="tflite_int8_selective", variant="int8_selective", path="model_int8_selective.tflite")
    entry["details"] = {
        "layers_kept_float": ["conv_a", "conv_b", "mean"],
        "layer_error_ranking": [
            {
                "tensor": "conv_a",
                "op": "CONV_2D",
                "rmse_over_scale": 2.1,
                "mean_squared_error": 0.3,
                "relative_rmse": 0.05,
            },
            {"tensor": "conv_b", "op": "CONV_2D", "rmse_over_scale": 1.2, "mean_squared_error": 0.1},
            {"tensor": "mean", "op": "MEAN", "rmse_over_scale": 0.9, "mean_squared_error": 0.01},
            {"tensor": "fc", "op": "FULLY_CONNECTED", "rmse_over_scale": 0.3, "mean_squared_error": 0.001},
        ],
        "debug_samples": 32,
        "layers_compared": 40,
    }
    entry["parity"].update(accuracy_drop_points=0.5, accuracy_drop_interval_points=[-1.0, 2.5])
    results.artifacts["tflite_int8"]["parity"].update(
        accuracy_drop_points=7.0, accuracy_drop_interval_points=[4.0, 11.0], over_budget=True, passed=False
    )
    results.artifacts["tflite_int8_selective"] = entry
    rows = [r for r in results.local if r["profile"] == "edge" and r["artifact"] in ("tflite_fp32", "tflite_int8")]
    selective = copy.deepcopy(next(r for r in rows if r["artifact"] == "tflite_int8"))
    selective["artifact"] = "tflite_int8_selective"
    results.local.append(selective)
    for row in results.local:
        if row["profile"] == "edge":
            row["p50_ms"] = {"tflite_fp32": 10.0, "tflite_int8": int8_p50, "tflite_int8_selective": selective_p50}.get(
                row["artifact"], row["p50_ms"]
            )
    return results


def test_the_report_says_what_keeping_layers_in_float_costs(make_results):
    results = _with_selective(make_results(), int8_p50=4.0, selective_p50=4.6)
    assert speedup_kept(results) == pytest.approx(0.9)  # 5.4 of the 6.0 ms gain kept
    sentence = selective_summary(results).text
    assert "7.0 points (95%: 4.0 to 11.0)" in sentence and "0.5 points (95%: -1.0 to 2.5)" in sentence
    assert "conv_a, conv_b, mean" in sentence and "10% of int8's speed-up" in sentence
    assert "Over the accuracy budget" in sentence and "tflite_int8" in sentence
    section = artifacts_section(ReportInputs(results=results, environment={}, edge={}, edge_problems=[]))
    layers = next(b for b in section.blocks if getattr(b, "headers", None) and "RMSE / scale" in b.headers)
    assert [row[5] for row in layers.rows] == ["0.0500", "-", "-", "-"]  # relative RMSE where recorded
    assert [row[6] for row in layers.rows] == ["float", "float", "float", "int8"]
    parity = next(b for b in section.blocks if getattr(b, "headers", None) and "parity" in b.headers)
    int8_row = next(row for row in parity.rows if row[0] == "tflite_int8")
    assert "OVER BUDGET" in int8_row and "7.0 points (95%: 4.0 to 11.0)" in int8_row


LITERT_TENSOR = (
    "pkg.DigitsCNN/torch.nn.modules.container.Sequential_features/torch.nn.modules.activation.ReLU_1;;"
    "pkg.DigitsCNN/torch.nn.modules.container.Sequential_features/torch.nn.modules.conv.Conv2d_0;1"
)


def test_the_report_shows_the_worst_layers_of_each_route(make_results):
    results = _with_selective(make_results(), int8_p50=4.0, selective_p50=4.6)
    entry = copy.deepcopy(results.artifacts["tflite_int8"])
    entry.update(name="litert_torch_int8", path="model_litert_torch_int8.tflite")
    entry["details"] = {
        "layer_comparison": "done",
        "layer_error_ranking": [
            {"tensor": LITERT_TENSOR, "op": "CONV_2D", "rmse_over_scale": 0.9, "mean_squared_error": 0.02}
            | {"relative_rmse": 0.031, "relative_rmse_added": 0.02, "matched_by": "name"},
            {"tensor": "fc", "op": "FULLY_CONNECTED", "rmse_over_scale": 0.4, "mean_squared_error": 0.01}
            | {"relative_rmse": 0.012, "relative_rmse_added": -0.001, "matched_by": "order"},
        ],
        "layers_compared": 7,
        "debug_samples": 32,
        "tensors_matched": {"op_outputs": 9, "matched": 8, "unmatched": 1, "by": {"name": 7, "order": 1}},
    }
    results.artifacts["litert_torch_int8"] = entry
    tables = layer_tables(results)  # in the artifacts section after the summary (the test above)
    assert [t.caption.split(":")[0] for t in tables] == ["onnx2tf route", "litert-torch route"]
    litert = tables[1]
    assert "8 of 9 matched (7 by name, 1 by order), 1 unmatched" in litert.caption
    assert litert.rows[0][1:4] == ["CONV_2D", "Sequential_features/ReLU_1;;Sequential_features/Conv2d_0;1", "0.900"]
    assert litert.rows[1][-3:] == ["0.0120", "-0.0010", "order"]
    # a comparison that could not run is said, not left out
    entry["details"] = {"layer_comparison": "not run: litert_torch_fp32 was not exported in this run"}
    note = layer_tables(results)[1]
    assert "litert_torch_int8 against litert_torch_fp32: not run: litert_torch_fp32 was not exported" in note.text
