"""The server's view against REAL servers: the FastAPI service, native Triton, native TorchServe.

Each stack serves the exported digits model; a short closed loop runs under the monitor
(deploy/listeners.py monitored) and the figures are checked for what they must be: CPU per
request > 0 and plausible, resident memory > 0, the stack's queue + compute within the
client's mean latency, one time-series point per second of the run. Then the pipeline's own
served stage on the FastAPI service (sweep, SLO search, cold start) and the report built from
it; and a server that runs out of memory: a FAILED reason saying so, quickly, not a hang.
"""

from __future__ import annotations

import math
import time

import pytest

from deploy_compare.clients import LoadConfig, run_closed_loop
from deploy_compare.clients.payload import payloads_from_export
from deploy_compare.deploy.coldstart import FIRST_REQUESTS, measure_cold_start
from deploy_compare.deploy.listeners import monitored
from deploy_compare.errors import ServerError
from deploy_compare.manifest import load_manifest
from deploy_compare.servers import make_launcher
from deploy_compare.servers.registry import get

STACKS = {
    "fastapi_onnx": ({"threads": 1}, pytest.mark.fastapi_service),
    "triton": ({"threads": 1}, pytest.mark.triton),
    "torchserve": ({"torch_threads": 1}, pytest.mark.torchserve),
}
DURATION_S = 3.0

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", params=[pytest.param(k, marks=m) for k, (_, m) in STACKS.items()])
def measured(request, artifacts, tmp_path_factory):
    """(kind, cold start, {concurrency: LoadResult}) of one real server, measured once."""
    kind = request.param
    stack = get(kind)
    reason = stack.native_reason()
    if reason:
        pytest.skip(f"{kind} cannot run natively here: {reason}")
    config = stack.config_class(**STACKS[kind][0])
    launcher = make_launcher(
        kind, "native", manifest_dir=artifacts, run_dir=tmp_path_factory.mktemp(kind), config=config
    )
    with launcher:
        endpoint = launcher.endpoint
        payloads = payloads_from_export(endpoint, artifacts, load_manifest(artifacts), artifact=stack.artifact)
        cold = measure_cold_start(payloads, launcher.startup_s, launcher.healthy_at, 10.0)
        runs = {}
        for concurrency in (1, 8):
            cfg = LoadConfig(concurrency=concurrency, warmup_s=0.5, duration_s=DURATION_S, min_requests=50)
            runs[concurrency] = monitored(run_closed_loop, launcher)(endpoint, payloads, cfg)
    return kind, cold, runs


def test_cpu_per_request_and_memory_are_measured_and_plausible(measured):
    kind, _, runs = measured
    for concurrency, r in runs.items():
        server = r.server
        assert server is not None and server["source"] == "psutil process tree", (kind, concurrency, server)
        assert r.completed >= 50
        # The digits CNN costs microseconds; HTTP, JSON and the framework around it some more:
        # well above zero, well under 100 ms of CPU per request even on a shared machine.
        assert 0 < server["cpu_ms_per_request"] < 100, server
        # Busy cores and CPU per request are two views of the one CPU total of the measured
        # window: cores x window = CPU = per request x the requests the client completed
        # (relations, not a bound that depends on this machine's core count).
        assert server["cpu_s"] > 0, server
        assert server["cores_busy"] * server["window_s"] == pytest.approx(server["cpu_s"], rel=0.01), server
        assert server["cpu_ms_per_request"] * r.completed == pytest.approx(1000 * server["cpu_s"], rel=0.01), server
        assert server["peak_rss_mib"] > 20 and server["samples"] >= 5
        assert server["processes"] >= 1
        assert abs(server["window_s"] - r.window_s) < 2.0  # the monitor covers the measured window


def test_the_stacks_queue_and_compute_fit_inside_the_client_latency(measured):
    kind, _, runs = measured
    for concurrency, r in runs.items():
        split = r.server["split"]
        assert split is not None, (kind, r.server.get("split_note"))
        assert split["requests"] > 0.5 * r.completed  # the server counted the same run
        assert split["queue_ms"] >= 0 and split["compute_ms"] > 0
        # Each request's server time is inside its client time, so the means are too.
        assert split["queue_ms"] + split["compute_ms"] <= r.mean_ms, (kind, concurrency, split, r.mean_ms)


def test_the_time_series_has_a_point_per_second_of_the_run(measured):
    _, _, runs = measured
    for r in runs.values():
        ts = r.timeseries
        assert ts["bucket_s"] == 1
        span = r.window_s  # measured window; in-flight requests drain into one more second at most
        assert math.floor(span) <= len(ts["t_s"]) <= math.ceil(span) + 1
        assert len(ts["throughput_rps"]) == len(ts["p99_ms"]) == len(ts["errors"]) == len(ts["t_s"])
        full = ts["throughput_rps"][: int(span)]
        assert sum(full) <= r.completed and sum(full) > 0.5 * r.completed
        assert sum(ts["errors"]) == sum(r.errors.values()) + r.dropped


def test_cold_start_counts_launch_to_the_first_answer(measured):
    kind, cold, _ = measured
    assert cold.launch_to_healthy_s is not None and cold.launch_to_first_inference_s is not None
    assert cold.launch_to_first_inference_s >= cold.launch_to_healthy_s
    assert len(cold.first_requests_ms) == FIRST_REQUESTS and all(v > 0 for v in cold.first_requests_ms), cold
    assert cold.note == ""


@pytest.mark.fastapi_service
def test_the_served_stage_records_the_servers_view_and_the_report_shows_it(artifacts, tmp_path):
    from deploy_compare.deploy.affinity import plan_cores
    from deploy_compare.deploy.config import load_run_config
    from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult, validate
    from deploy_compare.progress import ProgressLog
    from deploy_compare.report import render_all

    config = load_run_config(
        quick=True,
        overrides={
            "run": {"targets": ["fastapi_onnx"], "pin_cores": False},
            "load": {
                "batch_sizes": [1],
                "encodings": ["json"],  # the server's view, not the encodings
                "concurrency": [1, 4],
                "duration_s": 2.0,
                "min_requests": 50,
            },
            "slo": {
                "confidence": 0.5,
                "max_trials": 2,
                "duration_s": 2.0,
                "max_duration_s": 2.0,  # not stretched at low rates: short trials
                "start_rate_rps": 100.0,
            },
        },
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = ServedResult(target="fastapi_onnx", status="OK", artifact="onnx")
    from deploy_compare.deploy.served import run_served_target

    run_served_target("fastapi_onnx", config, artifacts, run_dir, plan_cores(), result, lambda: None, ProgressLog())
    assert result.cold_start["launch_to_first_inference_s"] >= result.cold_start["launch_to_healthy_s"]
    assert result.peak_rss_mib is not None and result.peak_rss_mib > 20
    assert all(p["server"]["cpu_ms_per_request"] > 0 for p in result.sweep)
    trials = result.slo["trials"]
    assert trials and all(t["result"]["server"]["cpu_s"] > 0 for t in trials)

    results = RunResults(
        run=RunInfo(id="t", profile="quick", started_utc="now", command="test", complete=True),
        settings=config.raw,
        served=[result],
    )
    validate(results.to_dict())
    results.write(run_dir)
    render_all(run_dir)
    report = (run_dir / "report.md").read_text()
    assert "The server's view" in report and "server CPU ms/req" in report
    assert "launch -> first inference s" in report
    if result.slo.get("max_rate_rps") is not None:
        assert "per 1M, measured CPU" in report and "c7i.large" in report
    assert "Per-second throughput and p99" in (run_dir / "report.html").read_text()


@pytest.mark.fastapi_service
def test_a_server_out_of_memory_is_a_failed_reason_not_a_hang(artifacts, tmp_path):
    from deploy_compare.deploy.affinity import plan_cores
    from deploy_compare.deploy.config import load_run_config
    from deploy_compare.deploy.results import ServedResult
    from deploy_compare.deploy.served import run_served_target
    from deploy_compare.errors import message_line
    from deploy_compare.progress import ProgressLog

    # 40 MiB: the service's Python, numpy and ONNX Runtime need several times that to start.
    config = load_run_config(
        quick=True, overrides={"run": {"targets": ["fastapi_onnx"], "pin_cores": False, "server_memory_limit_mib": 40}}
    )
    result = ServedResult(target="fastapi_onnx", status="OK", artifact="onnx")
    began = time.monotonic()
    with pytest.raises(ServerError) as caught:
        run_served_target(
            "fastapi_onnx", config, artifacts, tmp_path, plan_cores(), result, lambda: None, ProgressLog()
        )
    assert time.monotonic() - began < 30  # killed at the limit, not left to the start timeout
    reason = message_line(caught.value)  # what the pipeline writes as the FAILED row's reason
    assert "out of memory" in reason and "40 MiB" in reason, reason


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_docker_torchserve_seen_through_the_engines_stats_and_killed_at_its_memory_limit(
    artifacts, tmp_path, docker_client, torchserve_base
):
    from deploy_compare.servers.torchserve.config import TorchServeConfig

    config = TorchServeConfig(base_image=torchserve_base, start_timeout_s=300)  # test_docker_real's image, reused
    launcher = make_launcher("torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path / "ok", config=config)
    with launcher:
        endpoint = launcher.endpoint
        payloads = payloads_from_export(endpoint, artifacts, load_manifest(artifacts), artifact="torchscript")
        cfg = LoadConfig(concurrency=4, warmup_s=0.5, duration_s=DURATION_S, min_requests=50)
        r = monitored(run_closed_loop, launcher)(endpoint, payloads, cfg)
    server = r.server
    assert server["source"] == "docker stats API" and server["processes"] is None
    assert 0 < server["cpu_ms_per_request"] < 100 and 0 < server["cores_busy"] <= 2.5
    assert server["peak_rss_mib"] > 100  # Java frontend + a Python worker with torch
    split = server["split"]
    assert split is not None, server.get("split_note")
    assert 0 < split["queue_ms"] + split["compute_ms"] <= r.mean_ms

    # The same image under a 160 MiB cgroup limit: the kernel's OOM killer ends the torch worker
    # (or the JVM); the start fails with that reason instead of waiting out the start timeout.
    limited = make_launcher("torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path / "oom", config=config)
    limited.memory_limit_mib = 160
    began = time.monotonic()
    with pytest.raises(ServerError, match="out of memory"):
        limited.start()
    assert time.monotonic() - began < 200
    assert docker_client.containers.list(all=True, filters={"name": limited.container_name}) == []
