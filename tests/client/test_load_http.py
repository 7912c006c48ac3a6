"""The load client against a real local HTTP server (uvicorn + a tiny ASGI app, see conftest).

Timing assertions use generous margins: the machine is shared and noisy. What is checked
is the shape that only a correct client produces (a stall in the open-loop tail, exact
error counts by kind), not speed.
"""

from __future__ import annotations

import dataclasses
import json
import socket

import numpy as np
import pytest

from deploy_compare.clients import (
    Endpoint,
    LoadConfig,
    LoadResult,
    SloConfig,
    build_payloads,
    find_max_rate_under_slo,
    run_closed_loop,
    run_open_loop,
    sweep_concurrency,
)
from deploy_compare.errors import LoadError

pytestmark = [pytest.mark.client, pytest.mark.timeout(120)]

NUM_CLASSES = 10


def behaviour_batch(rows: list[tuple[float, int, int]]) -> np.ndarray:
    """Samples (N, 1, 8, 8) whose first values are (delay_ms, mode, label), read by the app."""
    x = np.zeros((len(rows), 1, 8, 8), dtype=np.float32)
    for i, (delay, mode, label) in enumerate(rows):
        x[i, 0, 0, :3] = (delay, mode, label)
    return x


def one_hot(labels: list[int]) -> np.ndarray:
    ref = np.zeros((len(labels), NUM_CLASSES), dtype=np.float32)
    ref[np.arange(len(labels)), labels] = 1.0
    return ref


def payloads_for(ep: Endpoint, rows: list[tuple[float, int, int]], reference_labels: list[int] | None = None):
    labels = reference_labels if reference_labels is not None else [r[2] for r in rows]
    return build_payloads(ep, behaviour_batch(rows), one_hot(labels))


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def endpoint(asgi_server) -> Endpoint:
    return Endpoint(url=asgi_server.url, encoding="torchserve", model="digits", token="k3y")


def test_percentiles_follow_known_server_delays(endpoint, asgi_server):
    # 8 of 10 payloads answer after 5 ms, 2 after 40 ms: p50 is a 5 ms request, p90+ a 40 ms one.
    rows = [(5, 0, i % NUM_CLASSES) for i in range(8)] + [(40, 0, 3), (40, 0, 7)]
    cfg = LoadConfig(duration_s=2.0, warmup_s=0.3, min_requests=60, concurrency=1)
    r = run_closed_loop(endpoint, payloads_for(endpoint, rows), cfg)
    assert r.min_requests_met and r.requests >= 60 and r.error_count == 0
    # Relations that hold under any load (overhead only adds, and adds to both kinds of request):
    # no request beats its server delay; p50 is a fast request and p90 a slow one; the two stay
    # apart by most of their 35 ms difference; the mean lies between the delays' mix and p90.
    figures = f"p50 {r.p50_ms:.1f} p90 {r.p90_ms:.1f} mean {r.mean_ms:.1f} min {r.min_ms:.1f} ms"
    assert r.min_ms >= 5.0 and 5.0 <= r.p50_ms < 40.0 <= r.p90_ms, figures
    assert r.p90_ms - r.p50_ms >= 0.5 * (40 - 5), figures
    assert 40.0 <= r.p99_ms <= r.max_ms
    assert 0.8 * 5 + 0.2 * 40 <= r.mean_ms < r.p90_ms, figures
    # The closed loop at concurrency 1 cannot go faster than one mean delay at a time.
    assert r.throughput_rps <= 1000.0 / (0.8 * 5 + 0.2 * 40)
    # Every response was checked against its reference and agreed.
    assert r.correctness_checked == r.completed and r.top1_agreement == 1.0
    # The TorchServe adapter really sent its route and inference key.
    assert asgi_server.state.last_path == "/predictions/digits"
    assert asgi_server.state.last_headers["authorization"] == "Bearer k3y"


def test_top1_agreement_counts_wrong_answers(endpoint):
    # The server answers label i; the reference disagrees on 3 of 10 samples.
    rows = [(0, 0, i) for i in range(10)]
    reference = [i if i < 7 else (i + 1) % NUM_CLASSES for i in range(10)]
    cfg = LoadConfig(duration_s=0.8, warmup_s=0.2, min_requests=100, concurrency=1, sample_every=5)
    r = run_closed_loop(endpoint, payloads_for(endpoint, rows, reference), cfg)
    assert r.correctness_checked >= r.completed // 5
    assert r.top1_agreement == pytest.approx(0.7, abs=0.12)


def test_every_error_kind_is_counted(endpoint):
    # One payload of each behaviour, issued round-robin: the counts follow the mix.
    rows = [(0, 0, 1), (0, 1, 0), (0, 2, 0), (0, 3, 0), (400, 0, 0)]
    cfg = LoadConfig(duration_s=1.5, warmup_s=0.2, min_requests=20, concurrency=2, timeout_s=0.15)
    r = run_closed_loop(endpoint, payloads_for(endpoint, rows), cfg)
    e = r.errors
    assert e["http_status"] > 0 and e["timeout"] > 0 and e["unparseable"] > 0
    assert e["connect"] == 0
    # Each cycle of 5 requests holds 1 ok, 1 status error, 2 unparseable bodies, 1 timeout;
    # the ends of the window can cut a cycle per worker.
    assert abs(e["unparseable"] - 2 * e["http_status"]) <= 6
    assert abs(e["timeout"] - e["http_status"]) <= 4
    assert abs(r.completed - e["http_status"]) <= 4
    assert r.requests == r.completed + r.error_count
    assert "503" in r.error_examples["http_status"] and "overloaded" in r.error_examples["http_status"]
    assert "Timeout" in r.error_examples["timeout"]
    assert r.p99_incl_failures_ms is None  # 80% failed: no p99 a user would see


def test_connect_errors_are_counted_and_preflight_fails_fast():
    ep = Endpoint(url=f"http://127.0.0.1:{dead_port()}", encoding="tfserving", model="digits")
    payloads = payloads_for(ep, [(0, 0, 1)])
    cfg = LoadConfig(duration_s=0.3, warmup_s=0.0, min_requests=5, concurrency=1, preflight=False)
    r = run_closed_loop(ep, payloads, cfg)
    assert r.requests >= 5 and r.errors["connect"] == r.requests
    assert r.completed == 0 and r.p50_ms is None and r.throughput_rps == 0.0
    with pytest.raises(LoadError, match="nothing answered"):
        run_closed_loop(ep, payloads, dataclasses.replace(cfg, preflight=True))


def test_tfserving_route_and_a_wrong_model_name(asgi_server):
    ep = Endpoint(url=asgi_server.url, encoding="tfserving", model="digits")
    cfg = LoadConfig(duration_s=0.3, warmup_s=0, min_requests=5)
    r = run_closed_loop(ep, payloads_for(ep, [(0, 0, 2)]), cfg)
    assert r.completed >= 5 and r.error_count == 0 and r.url.endswith("/v1/models/digits:predict")
    assert asgi_server.state.last_path == "/v1/models/digits:predict"
    wrong = dataclasses.replace(ep, model="digitz")
    with pytest.raises(LoadError, match=r"HTTP 404 on the first request.*Model not found"):
        run_closed_loop(wrong, payloads_for(wrong, [(0, 0, 2)]), cfg)
    # Without the preflight, every request is an http_status error, counted, none lost.
    r = run_closed_loop(wrong, payloads_for(wrong, [(0, 0, 2)]), dataclasses.replace(cfg, preflight=False))
    assert r.errors["http_status"] == r.requests >= 5 and r.completed == 0
    assert "HTTP 404" in r.error_examples["http_status"]


def test_server_stall_shows_in_the_open_loop_tail_not_in_the_closed_loop(endpoint, asgi_server):
    """Coordinated omission: a 0.4 s stall delays every request SCHEDULED during it.

    The open loop keeps sending on schedule and counts from the scheduled time, so ~80 of
    ~600 requests carry part of the stall. A closed loop with 2 workers just waits: only
    2 requests see it, and its p99 hides the stall.
    """
    payloads = payloads_for(endpoint, [(0, 0, i) for i in range(10)])
    stall_s = 0.4
    cfg = LoadConfig(
        duration_s=3.0, warmup_s=0.5, min_requests=300, rate_rps=200, arrival="constant", max_in_flight=128
    )

    def with_stall(fn, c):
        # The stall starts 1.5 s into the run's own clock (1 s into its measured window), however
        # long the run took to set up: a timer started before the call can fall in the warm-up.
        fired: list[float] = []

        def stall_once(p) -> None:
            if not fired and p.elapsed_s >= 1.5:
                fired.append(p.elapsed_s)
                asgi_server.state.stall(stall_s)

        result = fn(endpoint, payloads, c, stall_once)
        assert fired, "the run ended before its stall"
        return result

    open_r = with_stall(run_open_loop, cfg)
    closed_r = with_stall(run_closed_loop, dataclasses.replace(cfg, concurrency=2, rate_rps=None))
    seen = {
        r.mode: (r.requests, r.dropped, r.error_count, r.p90_ms, r.p99_ms, r.max_ms, r.stop_reason)
        for r in (open_r, closed_r)
    }
    assert open_r.dropped == 0 and open_r.error_count == 0, seen
    assert open_r.max_ms >= stall_s * 1000 * 0.75, seen
    assert open_r.p99_ms >= stall_s * 1000 * 0.5, seen  # ~13% of requests waited 0..400 ms
    assert open_r.p90_ms >= 10.0, seen
    assert closed_r.max_ms >= stall_s * 1000 * 0.75, seen  # the closed loop saw the stall...
    assert closed_r.p99_ms < open_r.p99_ms / 2, seen  # ...but its tail hides it


def test_open_loop_drops_beyond_the_in_flight_bound(endpoint):
    # 100 ms per request, 200 arrivals/s, at most 4 in flight: ~40/s can be sent, the rest drop.
    payloads = payloads_for(endpoint, [(100, 0, 1)])
    cfg = LoadConfig(duration_s=1.0, warmup_s=0.2, min_requests=100, rate_rps=200, arrival="constant", max_in_flight=4)
    r = run_open_loop(endpoint, payloads, cfg)
    assert r.dropped > r.completed > 0
    assert r.requests == r.completed + r.dropped + r.error_count
    assert r.p99_incl_failures_ms is None
    assert r.throughput_rps <= 4 / 0.1 * 1.1


def test_late_send_flag_trips_past_client_capacity(endpoint, fast_server):
    # 100,000 arrivals/s against a server that answers at once, in its own process: the client
    # is the limit (its open loop keeps its schedule to a few 10,000 req/s here). With room for
    # 2,048 requests in flight (one connection each) the overload shows as late sends, not drops.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and (hard == resource.RLIM_INFINITY or hard >= 4096):
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    fast = Endpoint(url=fast_server, encoding="torchserve", model="digits")
    over = LoadConfig(
        duration_s=1.0, warmup_s=0.2, min_requests=100, rate_rps=100_000, arrival="constant", max_in_flight=2048
    )
    r = run_open_loop(fast, payloads_for(fast, [(0, 0, 1)]), over)
    assert r.errors["connect"] == 0
    assert r.client_bottleneck
    assert r.late_share > over.max_late_share
    assert any("after schedule" in reason for reason in r.bottleneck_reasons)
    # A gentle rate, judged with a threshold far above timer jitter, is not flagged as late.
    payloads = payloads_for(endpoint, [(0, 0, 1)])
    gentle = dataclasses.replace(over, rate_rps=40, max_in_flight=16, late_threshold_ms=25.0, min_requests=30)
    g = run_open_loop(endpoint, payloads, gentle)
    assert g.late_share <= gentle.max_late_share
    assert not any("after schedule" in reason for reason in g.bottleneck_reasons)


def test_sweep_scales_with_concurrency_on_a_concurrent_server(endpoint):
    payloads = payloads_for(endpoint, [(10, 0, i) for i in range(10)])
    cfg = LoadConfig(duration_s=1.0, warmup_s=0.2, min_requests=50)
    results = sweep_concurrency(endpoint, payloads, cfg, levels=(1, 4))
    assert [r.concurrency for r in results] == [1, 4]
    assert results[1].throughput_rps > 2 * results[0].throughput_rps
    # Results survive JSON.
    again = LoadResult.from_dict(json.loads(json.dumps(results[1].to_dict())))
    assert again == results[1]


def test_slo_search_brackets_a_server_of_fixed_capacity(endpoint):
    # One request at a time, 5 ms each: capacity ~200/s; near it the queue explodes.
    payloads = payloads_for(endpoint, [(5, 4, 1)])
    # The server shares this process's GIL; a 10 ms late threshold keeps its CPU bursts
    # from being read as a client that fell behind.
    # duration_s is each trial's cap: ~300 requests pass a trial at 90% confidence, 2 s at 150/s
    # (at 99%, 528: the test took 61 s); above capacity the queue still fails a trial long before
    cfg = LoadConfig(duration_s=10.0, warmup_s=0.3, min_requests=50, max_in_flight=64, late_threshold_ms=10.0)
    slo = SloConfig(
        p99_bound_ms=50.0,
        confidence=0.9,
        start_rate_rps=50.0,
        max_rate_rps=800.0,
        max_trials=6,
        rel_tolerance=0.1,
        max_duration_s=10.0,  # the trial's own cap, not stretched further
    )
    s = find_max_rate_under_slo(endpoint, payloads, cfg, slo)
    searched = [t for t in s.trials if not t.confirm]
    assert 2 <= len(searched) <= slo.max_trials and len(s.trials) - len(searched) <= slo.confirm_trials
    assert s.max_rate_rps is not None and s.max_rate_rps < 200.0
    assert s.lowest_failing_rate_rps is not None and s.lowest_failing_rate_rps > s.max_rate_rps
    failed = {t.rate_rps for t in s.trials if not t.passed}
    for t in s.trials:
        if t.passed:  # below the reported rate, or at a rate that also failed (a confirmation)
            assert t.result.slo_verdict is True and t.result.stop_reason == "decided"
            assert t.rate_rps <= s.max_rate_rps or t.rate_rps in failed
        else:
            assert t.reason and t.rate_rps >= s.lowest_failing_rate_rps
    # The rate reported was run twice (the confirmation on another arrival seed) when it held.
    at_best = [t for t in s.trials if t.rate_rps == s.max_rate_rps]
    assert s.confirmed is not None and (not s.confirmed or (len(at_best) == 2 and at_best[-1].confirm))
    if s.confirmed:
        assert at_best[-1].result.seed != at_best[0].result.seed
    assert s.best is not None and s.best.target_rate_rps == s.max_rate_rps


#: the trials' bound: far from both servers' delays, so a busy machine's stalls decide nothing
BOUND_MS = 250.0


def sequential_trial(endpoint: Endpoint, delay_ms: float, rate: float, duration_s: float) -> LoadResult:
    """One SLO trial (p99 <= BOUND_MS at 99% confidence) at a constant rate against a server
    that answers every request after `delay_ms`, concurrently (mode 0)."""
    from deploy_compare.clients.slo import trial_config

    base = LoadConfig(duration_s=duration_s, warmup_s=0.3, arrival="constant", late_threshold_ms=10.0)
    cfg = trial_config(base, SloConfig(p99_bound_ms=BOUND_MS), rate, seed=0)
    return run_open_loop(endpoint, payloads_for(endpoint, [(delay_ms, 0, 1)]), cfg)


def test_a_sequential_trial_passes_as_soon_as_the_rule_allows(endpoint):
    from deploy_compare.confidence import SequentialBound

    needed = SequentialBound(confidence=0.99, cap=20000).threshold(0)  # 528: none over, error spent over the looks
    r = sequential_trial(endpoint, delay_ms=5.0, rate=150.0, duration_s=20.0)
    assert r.slo_verdict is True and r.slo_over_bound == 0 and r.slo_decided_after == needed
    assert r.stop_reason == "decided"
    # stopped at ~528 / 150 = 3.5 s, not at its 20 s cap: the requests after the decision are
    # the ones already in flight or due within a tick of the window
    assert needed <= r.requests < needed + 0.5 * 150 and r.window_s < 8.0
    assert r.goodput_rps is not None and r.goodput_rps > 0.8 * 150


def test_a_sequential_trial_fails_as_soon_as_a_pass_is_impossible(endpoint):
    from deploy_compare.confidence import SequentialBound

    # every answer takes 400 ms > 250 ms: the trial fails once more are over than a pass
    # within the 20000-request cap allows (134), long before its 20 s cap
    most = SequentialBound(confidence=0.99, cap=20000).max_over
    r = sequential_trial(endpoint, delay_ms=400.0, rate=150.0, duration_s=20.0)
    assert r.slo_verdict is False and r.slo_over_bound == most + 1 == r.slo_decided_after
    assert r.stop_reason == "decided" and r.window_s < 5.0
    assert r.goodput_rps == 0.0


def test_the_event_loop_is_uvloop_when_installed_and_recorded(endpoint, monkeypatch):
    # uvloop is used when importable; DEPLOY_COMPARE_EVENT_LOOP=asyncio forces asyncio. Either
    # way the loop that ran the timing loop is recorded with the result.
    import importlib.util

    cfg = LoadConfig(duration_s=0.3, warmup_s=0.1, min_requests=20, concurrency=2)
    payloads = payloads_for(endpoint, [(0, 0, 1)], [1])
    r = run_closed_loop(endpoint, payloads, cfg)
    expected = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    assert r.client_info["event_loop"].split()[0] == expected
    assert r.completed > 0 and r.errors["transport"] == 0
    monkeypatch.setenv("DEPLOY_COMPARE_EVENT_LOOP", "asyncio")
    r = run_closed_loop(endpoint, payloads, cfg)
    assert r.client_info["event_loop"] == "asyncio"
    assert r.completed > 0 and r.errors["transport"] == 0


# Runs in a fresh interpreter: gc.collect() counts the cyclic garbage of the WHOLE process,
# and this one also holds the test server's thread (its per-connection objects) and whatever
# earlier tests left running (Ray's driver threads, jax's), none of which is the client's.
GC_PROBE = """
import contextlib, gc, json, sys

import numpy as np

from deploy_compare.clients import Endpoint, LoadConfig, build_payloads, run_closed_loop, run_open_loop, runner

seen = {"enabled": [], "garbage": [], "completed": []}
original = runner.collector_paused


@contextlib.contextmanager
def observed():
    with original():
        seen["enabled"].append(gc.isenabled())
        yield
        seen["garbage"].append(gc.collect())


runner.collector_paused = observed
endpoint = Endpoint(url=sys.argv[1], encoding="torchserve", model="digits", token="k3y")
x = np.zeros((1, 1, 8, 8), dtype=np.float32)
x[0, 0, 0, :3] = (0, 0, 1)
reference = np.zeros((1, 10), dtype=np.float32)
reference[0, 1] = 1.0
payloads = build_payloads(endpoint, x, reference)
for n in (300, 3000):
    r = run_closed_loop(endpoint, payloads, LoadConfig(duration_s=0.1, warmup_s=0.05, min_requests=n, concurrency=2))
    seen["completed"].append(r.completed)
r = run_open_loop(endpoint, payloads, LoadConfig(duration_s=0.5, warmup_s=0.05, min_requests=100, rate_rps=400))
seen["completed"].append(r.completed)
seen["restored"] = gc.isenabled() and gc.get_freeze_count() == 0
print(json.dumps(seen))
"""


def test_no_collector_pauses_during_a_run_and_no_garbage_cycles_per_request(asgi_server):
    # The collector is off during a run (its pauses would be timed as latency). That is only
    # safe if the loops leave no reference cycles behind per request (nor per connection: the
    # open loop opens more connections the busier the machine is): the garbage found right
    # after a run must not grow with the number of requests or connections.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", GC_PROBE, asgi_server.url], capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    completed = seen["completed"]
    assert completed[1] >= 3000 and completed[2] >= 100
    assert seen["enabled"] == [False, False, False]
    assert seen["restored"]  # collector on and nothing frozen afterwards
    small, large, opened = seen["garbage"]
    assert large < 200 + small, (
        f"{large} objects in cycles after {completed[1]} requests vs {small} after {completed[0]}"
    )
    assert opened < 200 + small, f"{opened} objects in cycles after the open loop vs {small}"


@pytest.mark.parametrize(("precision", "reason"), [(9.0, "precise"), (1e-6, "max duration"), (None, "duration")])
def test_a_closed_loop_stops_when_its_intervals_are_narrow_or_at_its_cap(endpoint, precision, reason):
    # 400 requests bound p99 (370 needed); a 900% width is met at once, a 0.0001% one never
    cfg = LoadConfig(
        duration_s=0.5, warmup_s=0.2, min_requests=400, max_duration_s=3.0, concurrency=4, precision=precision
    )
    r = run_closed_loop(endpoint, payloads_for(endpoint, [(1, 0, 1)]), cfg)
    assert r.stop_reason == reason and r.min_requests_met and r.requests >= 400
    assert r.p99_ci_ms is not None and r.p99_ci_ms[1] is not None  # enough samples for both ends
    if reason == "max duration":
        assert r.window_s >= 3.0 - 0.2 - 0.2  # ran to its cap (warm-up excluded), tick slack
    else:
        assert r.window_s < 2.5  # stopped at its minimum, not its cap
