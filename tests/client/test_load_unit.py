"""Pure parts of the load client: stats, schedules, adapters, payloads, config, results."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx
import numpy as np
import pytest

from deploy_compare.clients import (
    Endpoint,
    LoadConfig,
    SloConfig,
    build_payloads,
)
from deploy_compare.clients.open_loop import arrival_offsets_ns
from deploy_compare.clients.results import LoadResult, SloResult, SloTrial
from deploy_compare.clients.selfcheck import bottleneck_reasons
from deploy_compare.errors import ConfigError, ProtocolError
from deploy_compare.manifest import TensorSpec
from deploy_compare.servers.tfserving.encodings import TFServingRest
from deploy_compare.servers.torchserve.encodings import TorchServeRest
from deploy_compare.statistics import latency_summary, percentile_including_failures_ms, send_lag

pytestmark = pytest.mark.unit

TS = Endpoint(url="http://127.0.0.1:8080/", encoding="torchserve", model="digits", token="secret")
TF = Endpoint(url="http://127.0.0.1:8501", encoding="tfserving", model="digits")


# --- stats -------------------------------------------------------------------------


def test_percentiles_are_exact_over_all_samples():
    rng = np.random.default_rng(1)
    lat_ns = rng.lognormal(mean=15, sigma=0.5, size=10_001)
    s = latency_summary(lat_ns).figures_ms()
    for key, q in (("p50_ms", 50), ("p90_ms", 90), ("p95_ms", 95), ("p99_ms", 99), ("p999_ms", 99.9)):
        assert s[key] == pytest.approx(np.percentile(lat_ns, q) / 1e6, rel=1e-12)
    assert s["max_ms"] == pytest.approx(lat_ns.max() / 1e6) and s["mean_ms"] == pytest.approx(lat_ns.mean() / 1e6)
    # Known values: 1..100 ms -> median 50.5 ms, max 100 ms.
    k = latency_summary(np.arange(1, 101) * 1e6).figures_ms()
    assert k["p50_ms"] == pytest.approx(50.5) and k["max_ms"] == 100.0 and k["min_ms"] == 1.0
    assert latency_summary(np.array([])).p99_ms is None


def test_percentile_including_failures_treats_them_as_infinitely_slow():
    lat = np.full(990, 1e6)  # 990 requests at 1 ms
    assert percentile_including_failures_ms(lat, 5, 99.0) == pytest.approx(1.0)  # 0.5% failed
    assert percentile_including_failures_ms(lat, 20, 99.0) is None  # 2% failed: p99 is a failure
    assert percentile_including_failures_ms(np.array([]), 0, 99.0) is None


def test_send_lag_share_percentiles_and_max():
    sched = np.array([0, 10, 20, 30]) * 1_000_000
    sent = sched + np.array([0, 1, 6, 12]) * 1_000_000
    lag = send_lag(sched, sent, 5e6)
    assert lag.late_share == 0.5 and lag.max_ms == 12.0
    assert lag.p50_ms == pytest.approx(3.5) and lag.p99_ms == pytest.approx(11.82)
    assert send_lag(np.array([]), np.array([]), 1e6) == (None, None, None, None)


def test_bottleneck_rule():
    cfg = LoadConfig()
    assert bottleneck_reasons(0.5, 0.0, cfg) == []
    assert len(bottleneck_reasons(0.95, 0.2, cfg)) == 2
    assert "after schedule" in bottleneck_reasons(0.1, 0.06, cfg)[0]
    assert bottleneck_reasons(None, None, cfg) == []
    # Starved by other processes: a low CPU share, but runnable-and-waiting most of the time.
    starved = bottleneck_reasons(0.3, None, cfg, wait_share=0.6)
    assert len(starved) == 1 and "waiting for a CPU 60%" in starved[0]


# --- open-loop schedule ------------------------------------------------------------


def test_poisson_schedule_is_seeded_and_has_the_asked_rate():
    cfg = LoadConfig(rate_rps=500, warmup_s=1.0, duration_s=20.0, min_requests=10, seed=7)
    a, cut = arrival_offsets_ns(cfg)
    b, _ = arrival_offsets_ns(cfg)
    c, _ = arrival_offsets_ns(dataclasses.replace(cfg, seed=8))
    assert a == b and a != c and not cut
    assert len(a) == pytest.approx(500 * 21, rel=0.05)
    gaps = np.diff(a) / 1e9
    assert gaps.mean() == pytest.approx(1 / 500, rel=0.05)
    assert gaps.std() == pytest.approx(1 / 500, rel=0.1)  # exponential: std == mean
    assert max(a) <= 21e9


def test_constant_schedule_and_min_requests_extend_the_run():
    cfg = LoadConfig(rate_rps=100, arrival="constant", warmup_s=0.5, duration_s=1.0, min_requests=400)
    t, cut = arrival_offsets_ns(cfg)
    measured = [x for x in t if x >= 0.5e9]
    assert len(measured) == 400 and not cut  # 1 s at 100/s is too few: the run is extended
    assert np.allclose(np.diff(t), 1e7)
    short, cut = arrival_offsets_ns(dataclasses.replace(cfg, max_duration_s=2.0))
    assert cut and max(short) <= 2e9


# --- adapters ----------------------------------------------------------------------


def test_adapter_urls_headers_and_body():
    batch = np.arange(6, dtype=np.float32).reshape(2, 3)
    ts = TorchServeRest(TS).build_request(batch)
    assert (ts.method, ts.url) == ("POST", "http://127.0.0.1:8080/predictions/digits")
    assert ts.headers["Authorization"] == "Bearer secret"
    assert json.loads(ts.body) == {"instances": [[0, 1, 2], [3, 4, 5]]}
    tf = TFServingRest(TF).build_request(batch)
    assert tf.url == "http://127.0.0.1:8501/v1/models/digits:predict" and "Authorization" not in tf.headers
    assert TS.to_dict()["token"] == "<redacted>"


def test_payloads_use_the_served_layout_and_dtype_and_reference_top1():
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    ref = np.random.default_rng(1).random((6, 10), dtype=np.float32)
    nhwc = TensorSpec(name="input", shape=[None, 8, 8, 1], dtype="float32", layout="NHWC")
    p = build_payloads(TF, x, ref, logical_layout="NCHW", input_spec=nhwc, batch_size=2)
    assert len(p) == 3 and p.batch_size == 2
    sent = np.asarray(json.loads(p.requests[0].body)["instances"], dtype=np.float32)
    assert sent.shape == (2, 8, 8, 1) and np.array_equal(sent, x[:2].transpose(0, 2, 3, 1))
    assert p.expected_top1.tolist() == ref.argmax(axis=1).reshape(3, 2).tolist()
    nchw16 = TensorSpec(name="input", shape=[None, 1, 8, 8], dtype="float16", layout="NCHW")
    p16 = build_payloads(TS, x, ref, input_spec=nchw16)
    sent16 = np.asarray(json.loads(p16.requests[0].body)["instances"])
    assert sent16.shape == (1, 1, 8, 8) and np.array_equal(sent16, x[:1].astype(np.float16).astype(np.float64))


MALFORMED = [
    (200, b"<html>gateway</html>", "not JSON"),
    (200, b'{"predictions": [[0.1, 0.9]', "not JSON"),
    (200, b"[1, 2]", "not an object"),
    (200, b'{"outputs": [[1]]}', "no 'predictions'"),
    (200, b'{"predictions": [["a", "b"]]}', "not a numeric array"),
    (200, b'{"predictions": []}', "empty"),
    (200, b'{"predictions": [[0.1], [0.2]]}', "2 rows for a batch of 1"),
    (200, b'{"error": "Tensor name: input has no shape information"}', "server reported an error"),
    (400, b'{"error": "Input to reshape is a tensor with 64 values"}', "HTTP 400: Input to reshape"),
    (
        503,
        b'{"code": 503, "type": "ServiceUnavailableException", "message": "Model not ready"}',
        "HTTP 503: Model not ready",
    ),
    (500, b"\xff\xfe garbage", "HTTP 500"),
]


@pytest.mark.parametrize(("status", "body", "match"), MALFORMED)
def test_malformed_responses_raise_protocol_error(status, body, match):
    """Edge-case bodies through a real httpx client (MockTransport: bodies a healthy server won't send)."""
    adapter = TorchServeRest(TS)
    spec = adapter.build_request(np.zeros((1, 2), dtype=np.float32))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer secret"
        return httpx.Response(status, content=body)

    async def roundtrip() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await client.request(spec.method, spec.url, headers=spec.headers, content=spec.body)

    resp = asyncio.run(roundtrip())
    with pytest.raises(ProtocolError, match=match.replace("(", r"\(").replace("[", r"\[")):
        adapter.parse_response(resp.status_code, resp.content, batch_size=1)


def test_well_formed_response_parses():
    preds = TFServingRest(TF).parse_response(200, b'{"predictions": [[0.1, 0.7, 0.2]]}', batch_size=1)
    assert preds.shape == (1, 3) and preds.argmax() == 1


# --- config and results --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"min_requests": 0}, "min_requests"),
        ({"concurrency": 0}, "concurrency"),
        ({"arrival": "burst"}, "arrival"),
        ({"sample_every": 21}, "sample_every"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"rate_rps": -1.0}, "rate_rps"),
        ({"warmup_s": 5, "duration_s": 10, "max_duration_s": 12}, "max_duration_s"),
    ],
)
def test_load_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=f"LoadConfig.{field}"):
        LoadConfig(**kwargs)


def test_endpoint_and_slo_config_validation():
    with pytest.raises(ConfigError, match="Endpoint.encoding"):
        Endpoint(url="http://x", encoding="grpc", model="m")
    with pytest.raises(ConfigError, match="Endpoint.url"):
        Endpoint(url="127.0.0.1:80", encoding="torchserve", model="m")
    with pytest.raises(ConfigError, match="start_rate_rps"):
        SloConfig(start_rate_rps=0.5, min_rate_rps=1.0)
    with pytest.raises(ConfigError, match="max_trials"):
        SloConfig(max_trials=1)


def _result(**over) -> LoadResult:
    base = dict(
        mode="open",
        protocol="torchserve",
        url="u",
        model="m",
        concurrency=None,
        target_rate_rps=10.0,
        arrival="poisson",
        max_in_flight=8,
        seed=0,
        warmup_s=1.0,
        window_s=2.0,
        requests=20,
        completed=20,
        throughput_rps=10.0,
        p50_ms=1.0,
        p90_ms=2.0,
        p95_ms=3.0,
        p99_ms=4.0,
        p999_ms=5.0,
        max_ms=5.0,
        min_ms=0.5,
        mean_ms=1.5,
        p99_incl_failures_ms=4.0,
        errors={"timeout": 0},
        dropped=0,
        error_examples={},
        correctness_checked=20,
        correctness_agreed=20,
        top1_agreement=1.0,
        client_cpu_share=0.1,
        late_share=0.0,
        late_threshold_ms=5.0,
        max_send_lag_ms=0.3,
        client_bottleneck=False,
        bottleneck_reasons=[],
        min_requests_met=True,
        body_bytes=100,
    )
    base.update(over)
    return LoadResult(**base)


def test_results_round_trip_through_json():
    r = _result(client_cpu_wait_share=0.05)
    assert LoadResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    s = SloResult(50.0, 10.0, 20.0, False, [SloTrial(10.0, True, "", r), SloTrial(20.0, False, "p99", _result())])
    again = SloResult.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s and again.best == r
