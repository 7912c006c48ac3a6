"""Unit tests of the pure measurement parts: timing loop, statistics, procedure, results, schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploy_compare.bench_local import BenchConfig, BenchResult, MeasureSettings, results_document
from deploy_compare.bench_local.procedure import measure
from deploy_compare.bench_local.schema import load_schema, read_document, validate_document
from deploy_compare.bench_local.timing import time_calls
from deploy_compare.errors import ConfigError, ResultsError
from deploy_compare.statistics import latency_summary, throughput_per_s, top1_agreement

pytestmark = pytest.mark.unit


def test_time_calls_runs_min_iterations_when_duration_is_zero_and_cycles_inputs():
    seen = []
    timing = time_calls(seen.append, ["a", "b", "c"], min_iterations=7, min_duration_s=0.0, max_iterations=100)
    assert seen == ["a", "b", "c", "a", "b", "c", "a"]
    assert len(timing.samples_ns) == 7 and timing.samples_ns.dtype == np.int64
    assert (timing.samples_ns >= 0).all()
    assert timing.wall_ns >= timing.samples_ns.sum()


def test_time_calls_needs_min_duration_as_well_as_min_iterations():
    timing = time_calls(lambda x: None, [0], min_iterations=3, min_duration_s=0.05, max_iterations=10_000_000)
    assert timing.wall_ns >= 0.05e9
    assert len(timing.samples_ns) > 3  # a no-op call is far shorter than 50 ms / 3
    assert timing.reached_min_duration


def test_time_calls_stops_at_max_iterations_and_says_so():
    timing = time_calls(lambda x: None, [0], min_iterations=5, min_duration_s=60.0, max_iterations=50)
    assert len(timing.samples_ns) == 50
    assert not timing.reached_min_duration


@pytest.mark.parametrize("kwargs", [dict(min_iterations=0, max_iterations=5), dict(min_iterations=9, max_iterations=5)])
def test_time_calls_rejects_bad_counts(kwargs):
    with pytest.raises(ValueError, match="min_iterations"):
        time_calls(lambda x: None, [0], min_duration_s=0.0, **kwargs)


def test_latency_summary_uses_all_samples_with_linear_percentiles():
    samples_ns = np.arange(1, 101, dtype=np.int64) * 1_000_000  # 1..100 ms, shuffled
    np.random.default_rng(0).shuffle(samples_ns)
    stats = latency_summary(samples_ns)
    assert stats.count == 100 and stats.min_ms == pytest.approx(1.0)
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert stats.max_ms == pytest.approx(100.0)
    assert stats.mean_ms == pytest.approx(50.5)
    empty = latency_summary(np.array([], dtype=np.int64))  # an empty window: no figure, not a zero
    assert empty.count == 0 and set(empty.figures_ms().values()) == {None}


def test_throughput_and_top1_agreement():
    assert throughput_per_s(64, 2_000_000_000) == pytest.approx(32.0)
    ref = np.eye(4, dtype=np.float32)
    out = ref.copy()
    out[3] = [1, 0, 0, 0]
    assert top1_agreement(out, ref) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="shape"):
        top1_agreement(out[:2], ref)


def _toy_model(batch: np.ndarray) -> np.ndarray:
    """A deterministic 'model': 10 logits from the first 10 pixels."""
    return batch.reshape(len(batch), -1)[:, :10].astype(np.float32)


def test_measure_reports_every_figure_and_checks_correctness():
    x = np.random.default_rng(1).random((40, 1, 8, 8), dtype=np.float32)
    settings = MeasureSettings.quick()
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return _toy_model(batch)

    m = measure(predict, x, _toy_model(x), settings)
    assert m.latency.count >= settings.min_iterations
    assert m.single_stream_duration_s >= settings.min_duration_s
    assert m.latency.p50_ms <= m.latency.p90_ms <= m.latency.p99_ms <= m.latency.max_ms
    assert set(m.throughput_samples_per_s) == set(settings.batch_sizes)
    assert all(v > 0 for v in m.throughput_samples_per_s.values())
    assert m.top1_agreement == 1.0 and m.samples_checked == min(settings.correctness_samples, len(x))
    assert {8, 32} <= set(calls)  # the batch sizes really ran
    wrong = _toy_model(x)[::-1].copy()  # references of other samples
    assert measure(predict, x, wrong, settings).top1_agreement < 1.0
    assert measure(predict, x, None, settings).top1_agreement is None


@pytest.mark.parametrize(
    "field,value",
    [
        ("min_iterations", 0),
        ("min_duration_s", -1.0),
        ("batch_sizes", (0,)),
        ("warmup_iterations", -1),
        ("max_iterations", 10),
    ],
)
def test_measure_settings_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        MeasureSettings(**{field: value})


def test_measure_settings_round_trip():
    s = MeasureSettings.quick()
    assert MeasureSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(profiles=("cloud",)), "profiles"),
        (dict(server_threads=(0,)), "server_threads"),
        (dict(edge_threads=()), "edge_threads"),
        (dict(worker_timeout_s=0), "worker_timeout_s"),
    ],
)
def test_bench_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        BenchConfig(**kwargs)


def _ok_result(**overrides) -> BenchResult:
    values = dict(
        artifact="onnx",
        format="onnx",
        variant="fp32",
        runtime="onnxruntime",
        profile="server",
        threads=1,
        device="local",
        status="OK",
        load_ms=1.0,
        first_inference_ms=1.0,
        iterations=10,
        single_stream_duration_s=0.1,
        mean_ms=0.1,
        p50_ms=0.1,
        p90_ms=0.2,
        p99_ms=0.3,
        max_ms=0.4,
        throughput_samples_per_s={1: 10.0, 8: 70.0, 32: 200.0},
        top1_agreement=1.0,
        samples_checked=8,
    )
    values.update(overrides)
    return BenchResult(**values)


def test_result_round_trips_through_json_and_validates(tmp_path):
    result = _ok_result()
    doc = results_document([result], "local", ["deploy-compare", "bench-local"])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    _, results = read_document(path)
    assert results == [result]
    assert list(doc["results"][0]["throughput_samples_per_s"]) == ["1", "8", "32"]


def test_result_rejects_unknown_status_and_profile():
    with pytest.raises(ValueError, match="status"):
        _ok_result(status="MAYBE")
    with pytest.raises(ValueError, match="profile"):
        _ok_result(profile="cloud")


def test_schema_rows_are_generated_from_the_dataclass():
    """Every BenchResult field is in the schema; only the fields without a default are required."""
    from dataclasses import MISSING, fields

    row_schema = load_schema()["properties"]["results"]["items"]
    assert set(row_schema["properties"]) == set(_ok_result().to_dict())
    no_default = {f.name for f in fields(BenchResult) if f.default is MISSING and f.default_factory is MISSING}
    assert set(row_schema["required"]) == no_default | {"schema_version"}
    assert row_schema["additionalProperties"] is False


def test_rows_from_an_older_edge_runner_still_validate():
    """A run_edge.py bundled before the invoke-only and XNNPACK fields wrote rows without them."""
    doc = results_document([_ok_result()], "pi4", ["run_edge.py"])
    for name in ("invoke_p50_ms", "invoke_p99_ms", "xnnpack_ops", "total_ops", "fallback_ops"):
        del doc["results"][0][name]
    validate_document(doc, "old bundle")
    doc["results"][0]["no_such_field"] = 1
    with pytest.raises(ResultsError, match="no_such_field"):
        validate_document(doc, "doc")


def test_schema_rejects_ok_row_without_latency_and_failed_row_without_reason():
    doc = results_document([_ok_result(p50_ms=None)], "local", [])
    with pytest.raises(ResultsError, match="results/0/p50_ms"):
        validate_document(doc, "doc")
    doc = results_document([_ok_result(status="FAILED", reason=None)], "local", [])
    with pytest.raises(ResultsError, match="reason"):
        validate_document(doc, "doc")


@pytest.mark.parametrize(
    "text,match", [("{not json", "not readable JSON"), ('{"results": []}', "not a deploy-compare results file")]
)
def test_read_document_gives_clear_errors(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ResultsError, match=match) as info:
        read_document(path)
    assert str(path) in str(info.value)


def test_cli_and_bench_packages_import_no_ml_framework():
    """`deploy-compare --help` and the benchmark parent must stay light: frameworks load only in workers."""
    import subprocess
    import sys

    code = (
        "import sys; from deploy_compare.cli import build_parser; build_parser(); "
        "import deploy_compare.bench_local, deploy_compare.edge.bundle, deploy_compare.edge.ingest; "
        "heavy = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'ai_edge_litert', 'jsonschema') "
        "if m in sys.modules]; print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(("precision", "reason"), [(None, "duration"), (2.0, "precise"), (1e-6, "max duration")])
def test_single_stream_stops_when_its_intervals_are_narrow_or_at_its_cap(precision, reason):
    from deploy_compare.bench_local.procedure import MeasureSettings, _time_until_precise

    cap_s = 3.0
    settings = MeasureSettings(min_iterations=400, min_duration_s=0.0, precision=precision, max_duration_s=cap_s)
    timing, why = _time_until_precise(lambda x: sum(range(2000)), [0], settings)  # ~20 us a call
    assert why == reason and len(timing.samples_ns) >= 400
    if reason == "max duration":  # nothing is that precise: sliced on (0.5 s each) to the cap
        assert timing.wall_ns >= cap_s * 1e9
    else:  # a 200% width is reached within a slice or two (a preempted call widens p99 for a while)
        assert timing.wall_ns < cap_s * 1e9
