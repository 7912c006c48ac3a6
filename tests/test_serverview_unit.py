"""The server's view without a serving stack: the Prometheus reader and each stack's counters,
the per-second series, cost settings and arithmetic, and the native monitor and memory guard
on REAL child processes (a busy loop, a process that allocates memory)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from deploy_compare.clients.timeseries import per_second
from deploy_compare.errors import ConfigError
from deploy_compare.servers.metrics import Counters, MetricsSource, parse_prometheus

pytestmark = pytest.mark.unit

TRITON_TEXT = """\
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="digits",version="1"} 120
nv_inference_queue_duration_us{model="digits",version="1"} 2400
nv_inference_compute_input_duration_us{model="digits",version="1"} 600
nv_inference_compute_infer_duration_us{model="digits",version="1"} 6000
nv_inference_compute_output_duration_us{model="digits",version="1"} 1200
nv_cpu_utilization NaN
"""

TORCHSERVE_TEXT = """\
# TYPE ts_inference_requests_total counter
ts_inference_requests_total{model_name="digits",model_version="default",hostname="h",} 53.0
Requests2XX{Level="Host",Hostname="vm",} 50.0
ts_queue_latency_microseconds{model_name="digits",model_version="default",hostname="h",} 1000.0
ts_inference_latency_microseconds{model_name="digits",model_version="default",hostname="h",} 26000.0
"""


def test_prometheus_text_is_read_per_label_set_and_summed_per_name():
    m = parse_prometheus(TRITON_TEXT)
    assert m['nv_inference_request_success{model="digits",version="1"}'] == 120
    assert m["nv_inference_request_success"] == 120
    assert "nv_cpu_utilization" not in m  # NaN is no figure
    two = parse_prometheus('x{a="1"} 2\nx{a="2"} 3 1700000000\n')
    assert two["x"] == 5


def test_each_stacks_counters_and_the_mean_split_per_request():
    from deploy_compare.servers.fastapi_service import metrics as fastapi_metrics
    from deploy_compare.servers.tfserving import metrics as tfserving_metrics
    from deploy_compare.servers.torchserve import metrics as torchserve_metrics
    from deploy_compare.servers.triton import metrics as triton_metrics

    triton = triton_metrics.read(parse_prometheus(TRITON_TEXT))
    assert triton == Counters(requests=120, queue_us=2400, compute_us=7800)
    ts = torchserve_metrics.read(parse_prometheus(TORCHSERVE_TEXT))
    assert ts == Counters(requests=50, queue_us=1000, compute_us=25000)  # inference latency includes the queue
    fa = fastapi_metrics.read(
        parse_prometheus("dc_requests_total 4\ndc_queue_duration_us_total 400.0\ndc_compute_duration_us_total 80.0\n")
    )
    assert fa == Counters(4, 400, 80)
    tf = tfserving_metrics.read(
        parse_prometheus(
            ':tensorflow:serving:request_latency_sum{API="predict"} 900\n'
            ':tensorflow:serving:request_latency_count{API="predict"} 3\n'
            ':tensorflow:serving:runtime_latency_sum{API="Predict"} 300\n'
        )
    )
    assert tf == Counters(3, 600, 300)

    source = MetricsSource("http://unused", triton_metrics.read, "triton", "def")
    split = source.split(Counters(20, 400, 1800), triton)
    assert split.requests == 100
    assert split.queue_ms == pytest.approx(0.02) and split.compute_ms == pytest.approx(0.06)
    assert source.split(triton, triton).queue_ms is None  # nothing served: no mean


def test_per_second_series_buckets_by_completion_and_stays_bounded():
    start = 1_000_000_000
    sched = start + np.arange(0, 3_000_000_000, 10_000_000, dtype=np.int64)  # 300 requests over 3 s
    done = sched + 2_000_000  # 2 ms each
    ok = np.ones(len(sched), dtype=bool)
    ok[150] = False  # one error in second 1
    ts = per_second(sched, done, ok, start, start + 3_000_000_000)
    assert ts["bucket_s"] == 1 and ts["t_s"] == [0, 1, 2]
    assert ts["throughput_rps"] == [100.0, 99.0, 100.0]
    assert ts["errors"] == [0, 1, 0]
    assert ts["p50_ms"] == [pytest.approx(2.0)] * 3
    # A long run gets wider buckets, never more than the bound.
    long = per_second(sched, done, ok, start, start + 900 * 1_000_000_000, max_points=300)
    assert long["bucket_s"] == 3 and len(long["t_s"]) == 300
    empty = per_second(sched[:0], done[:0], ok[:0], start, start)
    assert empty["t_s"] == []


def test_cost_settings_default_to_a_stated_price_and_reject_bad_values():
    from deploy_compare.deploy.config import load_run_config
    from deploy_compare.deploy.report_settings import DEFAULT_PRICE_PER_VCPU_HOUR, cost_settings

    cost = cost_settings(load_run_config().raw)
    assert cost.price_per_vcpu_hour == DEFAULT_PRICE_PER_VCPU_HOUR and "c7i.large" in cost.price_source
    assert cost_settings({"cost": {"price_per_vcpu_hour": 0.1}}).price_source == "set in [cost]"
    for bad in ({"price_per_vcpu_hour": 0}, {"price_per_vcpu_hour": "cheap"}, {"pricee": 1}):
        with pytest.raises(ConfigError, match="cost"):
            cost_settings({"cost": bad})
    with pytest.raises(ConfigError, match="server_memory_limit_mib"):
        load_run_config(overrides={"run": {"server_memory_limit_mib": -1}})


def _served(**extra):
    from deploy_compare.deploy.results import ServedResult

    point = {
        "concurrency": 1,
        "throughput_rps": 400.0,
        "mean_ms": 2.5,
        "server": {
            "cpu_ms_per_request": 1.5,
            "cores_busy": 0.6,
            "peak_rss_mib": 120.0,
            "split": {"queue_ms": 0.5, "compute_ms": 1.0, "source": "x"},
        },
    }
    trial = {
        "rate_rps": 300.0,
        "passed": True,
        "reason": "",
        "result": {**point, "target_rate_rps": 300.0, "throughput_rps": 300.0},
    }
    return ServedResult(
        target="triton",
        status="OK",
        mode="native",
        sweep=[point],
        slo={"max_rate_rps": 300.0, "trials": [trial]},
        server_cores=[1],
        **extra,
    )


def test_server_view_rows_split_the_client_mean_and_price_the_slo_rate():
    from deploy_compare.deploy.report_settings import CostSettings
    from deploy_compare.report.serverview import efficiency, server_view_table, split_parts

    s = _served()
    assert split_parts(s.sweep[0]) == (0.5, 1.0, 1.0)  # rest = 2.5 - 0.5 - 1.0
    results = type("R", (), {"served": [s]})()
    table = server_view_table(results)  # type: ignore[arg-type]
    assert [row[1] for row in table.rows] == ["c=1", "SLO 300.0 req/s"]
    assert table.rows[0][7:10] == ["0.500", "1.00", "1.00"]
    e = efficiency(s, CostSettings(price_per_vcpu_hour=0.036))
    assert e is not None
    # 1.5 ms CPU per request: 1e6 requests = 1500 CPU-s = 0.41667 vCPU-h -> 0.015 at 0.036/h
    assert e.cost_measured == pytest.approx(0.015)
    # 1 core for 1e6 / 300 s = 0.9259 h -> 0.0333
    assert e.cost_provisioned == pytest.approx(0.036 / 3600 / 300 * 1e6)
    assert e.rps_per_busy_core == pytest.approx(300 / 0.6) and e.load == "SLO rate"
    # No SLO rate found: the best closed-loop level stands in, and says so.
    no_slo = _served()
    no_slo.slo = {"max_rate_rps": None, "trials": []}
    fallback = efficiency(no_slo, CostSettings(price_per_vcpu_hour=0.036))
    assert fallback is not None and fallback.load == "no SLO rate: closed loop c=1"
    assert fallback.slo_rate_rps == 400.0 and fallback.cost_measured == pytest.approx(0.015)


def test_native_monitor_measures_a_real_busy_process_tree(tmp_path):
    from deploy_compare.servers.monitor import NativeMonitor

    # A parent that starts a busy child: the tree's CPU is the child's, not the idle parent's.
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time\\nend=time.time()+30\\nwhile time.time()<end: pass'])\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(psutil.Process(proc.pid).children()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        child = psutil.Process(proc.pid).children()[0]
        monitor = NativeMonitor(proc.pid)
        before = sum(child.cpu_times()[:2])
        monitor.begin()
        time.sleep(1.0)
        usage = monitor.end(completed=100)
        spent = sum(child.cpu_times()[:2]) - before  # the child's own account, read apart
    finally:
        for p in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
            p.kill()
        proc.wait()
    assert usage.processes == 2
    # The busy child's CPU (its share of a shared machine), not the sleeping parent's: >0, and what
    # the kernel says the child spent (clock ticks of 10 ms apart).
    assert usage.cpu_s > 0.01 and usage.cpu_s == pytest.approx(spent, abs=0.05)
    assert usage.cpu_s <= usage.window_s * psutil.cpu_count() + 0.05
    assert usage.cpu_ms_per_request == pytest.approx(usage.cpu_s * 1000 / 100, rel=1e-3)
    assert usage.peak_rss_mib is not None and usage.peak_rss_mib > 5  # two Python interpreters
    assert usage.split is None and "no queue/compute" in (usage.split_note or "")


def test_memory_guard_kills_a_tree_that_outgrows_its_limit():
    from deploy_compare.servers.monitor import MemoryGuard

    grow = "import time\nblocks=[]\nfor _ in range(200):\n    blocks.append(bytearray(8 << 20))\n    time.sleep(0.02)\ntime.sleep(30)\n"
    proc = subprocess.Popen([sys.executable, "-c", grow], start_new_session=True)
    guard = MemoryGuard(proc.pid, limit_mib=200)
    try:
        code = proc.wait(timeout=30)  # not a hang: killed well before its 30 s sleep ends
    finally:
        guard.stop()
        if proc.poll() is None:
            proc.kill()
    assert code == -9
    assert guard.reason is not None and guard.reason.startswith("out of memory") and "200 MiB" in guard.reason


def test_with_even_repeats_the_slo_point_combines_each_repetitions_passing_trial():
    """Two repetitions passing at 300 and 500 req/s: the median rate (400) was never run; the SLO
    row and the cost come from both trials, their server figures (nested) medianed too."""
    from deploy_compare.deploy.report_settings import CostSettings
    from deploy_compare.repeats import combine_slo
    from deploy_compare.report.serverview import efficiency, slo_point

    s = _served()
    first = {**s.slo["trials"][0], "repetition": 1}
    second = {
        "rate_rps": 500.0,
        "passed": True,
        "repetition": 2,
        "result": {
            **first["result"],
            "target_rate_rps": 500.0,
            "throughput_rps": 500.0,
            "server": {**first["result"]["server"], "cpu_ms_per_request": 2.5, "split": {"queue_ms": 1.5}},
        },
    }
    s.slo_repeats = [
        {"max_rate_rps": 300.0, "lowest_failing_rate_rps": None, "repetition": 1},
        {"max_rate_rps": 500.0, "lowest_failing_rate_rps": None, "repetition": 2},
    ]
    s.slo = combine_slo(s.slo_repeats, [first, second])
    assert s.slo["max_rate_rps"] == 400.0
    point = slo_point(s)
    assert point is not None and point["target_rate_rps"] == 400.0 and point["repetitions"] == 2
    assert point["server"]["cpu_ms_per_request"] == 2.0 and point["server"]["peak_rss_mib"] == 120.0
    assert point["server"]["split"]["queue_ms"] == 1.0
    e = efficiency(s, CostSettings(price_per_vcpu_hour=0.036))
    assert e is not None and e.load == "SLO rate" and e.cost_measured == pytest.approx(0.036 / 3600 * 2.0 * 1000)


def test_a_run_that_raises_stops_the_server_monitor_and_its_pending_begin():
    """deploy/listeners.py monitored: a run failing after the monitor began leaves no sampler
    thread behind; one failing inside its warm-up never begins (the Timer is cancelled)."""
    import os
    from types import SimpleNamespace

    from deploy_compare.deploy.listeners import monitored
    from deploy_compare.servers.monitor import NativeMonitor

    monitors: list[NativeMonitor] = []

    def monitor():
        monitors.append(NativeMonitor(os.getpid()))
        return monitors[-1]

    launcher = SimpleNamespace(monitor=monitor)
    config = SimpleNamespace(warmup_s=0.3)

    def failing(phase):
        def run(endpoint, payloads, cfg, on_progress):
            on_progress(SimpleNamespace(phase=phase))
            if phase == "measuring":
                deadline = time.monotonic() + 5
                while not monitors[-1].begun and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert monitors[-1].begun
            raise RuntimeError("server went away")

        return run

    with pytest.raises(RuntimeError, match="went away"):
        monitored(failing("measuring"), launcher)(None, None, config)
    thread = monitors[-1]._thread
    assert thread is not None and not thread.is_alive()
    with pytest.raises(RuntimeError, match="went away"):
        monitored(failing("started"), launcher)(None, None, config)  # begin due after warmup_s
    time.sleep(0.5)
    assert not monitors[-1].begun and monitors[-1]._thread is None


def test_the_cold_start_table_shows_the_median_over_the_repetitions_launches():
    from deploy_compare.report.serverview import cold_start_table

    def cold(rep, healthy, first, requests, note=""):
        return {"launch_to_healthy_s": healthy, "launch_to_first_inference_s": first,
                "first_requests_ms": requests, "image_build_s": 40.0, "note": note, "repetition": rep}  # fmt: skip

    s = _served(image_build_s=40.0, startup_s=2.0)
    s.cold_start_repeats = [cold(1, 2.0, 2.5, [9.0, 3.0]), cold(2, 1.0, 1.2, [5.0, 1.0]), cold(3, 3.0, 3.1, [7.0])]
    s.cold_start = s.cold_start_repeats[0]
    results = type("R", (), {"served": [s]})()
    row = cold_start_table(results).rows[0]  # type: ignore[arg-type]
    assert row[0].endswith("(median of 3)") and row[1] == "40.00"
    assert row[2:5] == ["2.00", "2.50", "7.00"]  # request 2: answered in two repetitions only
    single = _served(startup_s=2.0)
    single.cold_start = cold(1, 2.0, 2.5, [9.0, 3.0])
    single.cold_start_repeats = [single.cold_start]
    assert cold_start_table(type("R", (), {"served": [single]})()).rows[0][2:5] == ["2.00", "2.50", "9.00, 3.00"]  # type: ignore[arg-type]
