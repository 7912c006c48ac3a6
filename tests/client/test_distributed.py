"""The load client as Ray actors (clients/distributed.py) on a REAL local multi-node Ray cluster.

The cluster is Ray's own test utility (ray.cluster_utils.Cluster): a head (GCS + raylet) and a
second node (its own raylet and object store), each a separate set of processes with one CPU,
all on 127.0.0.1, no dashboard, small object stores (the machine has 2 shared cores). The server
is the tests' real local HTTP server (conftest.asgi_server) or bench/trivial_http_server.py.
Timing assertions have wide margins: the machine is shared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from deploy_compare.clients import Endpoint, LoadConfig, build_payloads, run_closed_loop, run_open_loop
from deploy_compare.clients.analyze import MeasuredSamples
from deploy_compare.clients.distributed import (
    ClientPool,
    ScaleOut,
    Share,
    merge,
    share_configs,
    split_evenly,
)
from deploy_compare.clients.results import LoadResult
from deploy_compare.errors import ConfigError
from deploy_compare.statistics import latency_summary

REPO = Path(__file__).resolve().parents[2]
NUM_CLASSES = 10
DELAY_MS = 5.0
SLACK_MS = 40.0  # scheduler noise on a loaded 2-core machine (p50 27.8 ms seen with load average 9)

# One tier marker per test: the Ray tests carry `ray`, the pure share/merge arithmetic `unit`.
# Ray is pinned by the lock, so no module-level skip: without it the `ray` tests fail.
pytestmark = pytest.mark.timeout(240)


def delayed_payloads(ep: Endpoint, n: int = 10):
    """Bodies the test server answers after DELAY_MS, top-1 = i % 10 (conftest's app reads them)."""
    x = np.zeros((n, 1, 8, 8), dtype=np.float32)
    labels = [i % NUM_CLASSES for i in range(n)]
    for i, label in enumerate(labels):
        x[i, 0, 0, :3] = (DELAY_MS, 0, label)
    ref = np.zeros((n, NUM_CLASSES), dtype=np.float32)
    ref[np.arange(n), labels] = 1.0
    return build_payloads(ep, x, ref)


@pytest.fixture(scope="module")
def ray_cluster():
    """Head + one more node, 1 CPU each, on loopback; shut down (processes gone) afterwards."""
    saved = {k: os.environ.get(k) for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")}
    # Ray's switch for "single machine": every component binds 127.0.0.1, never the outward address.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable was set

    node_args = {"num_cpus": 1, "object_store_memory": 80 << 20}
    cluster = Cluster(initialize_head=True, head_node_args={**node_args, "include_dashboard": False})
    try:
        cluster.add_node(**node_args)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def endpoint(asgi_server) -> Endpoint:
    return Endpoint(url=asgi_server.url, encoding="torchserve", model="digits")


def cluster_cpus_free(address: str) -> tuple[float, float]:
    """(available, total) CPUs of the cluster, from a fresh driver connection."""
    import ray

    ray.init(address=address, log_to_driver=False)
    try:
        deadline = time.monotonic() + 30
        while True:
            free, total = ray.available_resources().get("CPU", 0.0), ray.cluster_resources().get("CPU", 0.0)
            if free >= total or time.monotonic() > deadline:
                return free, total
            time.sleep(0.5)
    finally:
        ray.shutdown()


# -- pure parts (no cluster) -------------------------------------------------------------------


@pytest.mark.unit
def test_shares_add_up_to_the_load_asked_for():
    assert split_evenly(10, 4) == [3, 3, 2, 2] and split_evenly(1, 3) == [1]
    closed = share_configs(LoadConfig(concurrency=5, min_requests=100), "closed", 2)
    assert [c.concurrency for c in closed] == [3, 2] and all(c.min_requests == 50 for c in closed)
    opened = share_configs(LoadConfig(rate_rps=900.0, max_in_flight=64, seed=7), "open", 3)
    assert sum(c.rate_rps or 0 for c in opened) == pytest.approx(900.0)
    assert len({c.seed for c in opened}) == 3  # independent arrival streams
    assert [c.seed for c in opened] == [c.seed for c in share_configs(LoadConfig(rate_rps=900.0, seed=7), "open", 3)]
    with pytest.raises(ConfigError):
        ScaleOut(processes=0)


@pytest.mark.unit
def test_merge_is_exact_over_all_raw_latencies():
    rng = np.random.default_rng(1)
    parts = [rng.integers(1_000_000, 9_000_000, size=n) for n in (1000, 37, 4000)]
    template = {
        k: None
        for k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "min_ms", "mean_ms", "concurrency")
    }
    shares = []
    for i, lat in enumerate(parts):
        result = LoadResult(
            **template,
            mode="closed",
            protocol="torchserve",
            url="http://127.0.0.1:1/predictions/m",
            model="m",
            target_rate_rps=None,
            arrival=None,
            max_in_flight=None,
            seed=None,
            warmup_s=0.0,
            window_s=1.0,
            requests=len(lat) + 1,
            completed=len(lat),
            throughput_rps=float(len(lat)),
            p99_incl_failures_ms=None,
            errors={"timeout": 1},
            dropped=0,
            error_examples={"timeout": "ReadTimeout"},
            correctness_checked=len(lat),
            correctness_agreed=len(lat) - i,
            top1_agreement=None,
            client_cpu_share=0.1 * (i + 1),
            late_share=None,
            late_threshold_ms=5.0,
            max_send_lag_ms=None,
            client_bottleneck=i == 2,
            bottleneck_reasons=["busy"] if i == 2 else [],
            min_requests_met=True,
            body_bytes=10,
        )
        cfg = LoadConfig(concurrency=1)
        samples = MeasuredSamples(lat.astype(np.int64), np.zeros(0, dtype=np.int64), 1)
        shares.append(Share(i, {"hostname": f"node{i}"}, cfg, result, samples, {"core": i, "own_core": True}))
    shares.append(Share(3, {"hostname": "node3"}, LoadConfig(concurrency=1), lost_reason="ActorDiedError: killed"))
    merged = merge(shares, LoadConfig(concurrency=4), "closed")
    expected = latency_summary(np.concatenate(parts)).figures_ms()
    for key, value in expected.items():
        assert getattr(merged, key) == pytest.approx(value)
    assert merged.requests == sum(len(p) + 1 for p in parts) and merged.errors["timeout"] == 3
    assert merged.correctness_agreed == sum(len(p) for p in parts) - 3
    assert merged.client_cpu_share == pytest.approx(0.3)  # the busiest actor
    assert merged.client_bottleneck and merged.bottleneck_reasons == ["actor 2 (node2): busy"]
    assert merged.client_processes == 4 and len(merged.client_actors) == 4
    assert merged.lost_shares == [merged.client_actors[3]] and "killed" in merged.lost_shares[0]["reason"]
    assert not merged.min_requests_met  # a lost share: less load than asked


# -- a real cluster ----------------------------------------------------------------------------


@pytest.mark.ray
def test_merged_result_matches_the_single_process_client(ray_cluster, endpoint):
    payloads = delayed_payloads(endpoint)
    closed = LoadConfig(duration_s=3.0, warmup_s=0.5, min_requests=100, concurrency=2)
    opened = LoadConfig(duration_s=3.0, warmup_s=0.5, min_requests=300, rate_rps=120.0, seed=3)
    single_closed = run_closed_loop(endpoint, payloads, closed)
    single_open = run_open_loop(endpoint, payloads, opened)
    with ClientPool(ScaleOut(processes=2, address=ray_cluster.address)) as pool:
        many_closed = pool.run_closed(endpoint, payloads, closed)
        many_open = pool.run_open(endpoint, payloads, opened)
        nodes = {a["node_id"] for a in pool.actors}
    assert len(nodes) == 2  # one actor on each node of the cluster
    assert {a["node_ip"] for a in many_closed.client_actors} == {"127.0.0.1"}  # loopback only
    for single, many in ((single_closed, many_closed), (single_open, many_open)):
        assert many.client_processes == 2 and len(many.client_actors) == 2 and not many.lost_shares
        assert many.error_count == 0 and many.min_requests_met
        assert many.requests == sum(a["requests"] for a in many.client_actors)
        assert many.correctness_checked == many.completed and many.top1_agreement == 1.0
        assert DELAY_MS <= many.p50_ms <= DELAY_MS + SLACK_MS and DELAY_MS <= single.p50_ms <= DELAY_MS + SLACK_MS
        assert abs(many.p50_ms - single.p50_ms) <= SLACK_MS
        assert many.p50_ms <= many.p99_ms <= many.max_ms
    # Closed loop: 2 workers in one process or 1 in each of two: same throughput, within noise.
    assert 0.6 <= many_closed.throughput_rps / single_closed.throughput_rps <= 1.6
    assert [a["concurrency"] for a in many_closed.client_actors] == [1, 1]
    # Open loop: two streams of 60/s are one of 120/s: the same number of arrivals within noise.
    assert sum(a["rate_rps"] for a in many_open.client_actors) == pytest.approx(120.0)
    assert 0.75 <= many_open.requests / single_open.requests <= 1.33
    assert 0.75 <= many_open.throughput_rps / 120.0 <= 1.33
    # Nothing left on the cluster: both actors' CPUs are free again.
    free, total = cluster_cpus_free(ray_cluster.address)
    assert free == total == 2.0


@pytest.mark.ray
def test_a_killed_actor_loses_only_its_share(ray_cluster, endpoint):
    payloads = delayed_payloads(endpoint)
    cfg = LoadConfig(duration_s=5.0, warmup_s=0.5, min_requests=50, concurrency=2)
    box: dict = {}
    with ClientPool(ScaleOut(processes=2, address=ray_cluster.address)) as pool:
        thread = threading.Thread(target=lambda: box.update(result=pool.run_closed(endpoint, payloads, cfg)))
        thread.start()
        deadline = time.monotonic() + 60
        while not all(a.get("pid") for a in pool.actors) or len(pool.actors) < 2:
            assert time.monotonic() < deadline, "actors were not placed"
            time.sleep(0.1)
        time.sleep(2.5)  # well inside the measured window
        victim = pool.actors[1]
        os.kill(victim["pid"], signal.SIGKILL)  # the cluster runs on this machine: a real process death
        thread.join(timeout=120)
        assert not thread.is_alive()
    r = box["result"]
    assert len(r.lost_shares) == 1
    lost = r.lost_shares[0]
    assert lost["actor"] == 1 and lost["pid"] == victim["pid"] and lost["concurrency"] == 1
    assert "died" in lost["reason"].lower() or "actor" in lost["reason"].lower(), lost["reason"]
    # The surviving actor's share is all there, and the result says the load was short.
    assert r.completed > 100 and r.error_count == 0 and not r.min_requests_met
    assert [a["actor"] for a in r.client_actors if "reason" not in a] == [0]
    free, total = cluster_cpus_free(ray_cluster.address)
    assert free == total == 2.0


@pytest.mark.ray
def test_an_unreachable_cluster_fails_fast_and_clearly():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=rf"Ray cluster at {dead} is unreachable"):
        with ClientPool(ScaleOut(processes=2, address=dead)):
            pass
    assert time.monotonic() - start < 10


def run_script(code: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )


@pytest.mark.ray
def test_local_actors_start_and_leave_nothing_running(fast_server):
    # No address: a local Ray is started for the run and shut down with it (a fresh process, so
    # the module's cluster cannot be picked up by mistake). Its children must all be gone.
    proc = run_script(
        f"""
        import numpy as np, psutil
        from deploy_compare.clients import Endpoint, LoadConfig, build_payloads
        from deploy_compare.clients.distributed import ClientPool, ScaleOut
        ep = Endpoint(url={fast_server!r}, encoding="torchserve", model="trivial")
        ref = np.zeros((8, 10)); ref[:, 1] = 1
        payloads = build_payloads(ep, np.zeros((8, 1, 8, 8), dtype=np.float32), ref)
        with ClientPool(ScaleOut(processes=2)) as pool:
            r = pool.run_open(ep, payloads, LoadConfig(duration_s=2, warmup_s=0.3, min_requests=100, rate_rps=200))
            print("ran", r.requests, r.completed, r.top1_agreement, sorted(a["node_ip"] for a in r.client_actors))
            print("children during", len(psutil.Process().children(recursive=True)))
        print("children after", [p.name() for p in psutil.Process().children(recursive=True)])
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    ran = next(line for line in out if line.startswith("ran ")).split(" ", 4)
    assert int(ran[1]) >= 300 and int(ran[2]) == int(ran[1]) and float(ran[3]) == 1.0
    assert ran[4] == "['127.0.0.1', '127.0.0.1']"  # a local Ray listens on loopback only
    assert int(next(line for line in out if line.startswith("children during")).split()[-1]) > 0
    assert out[-1] == "children after []"


@pytest.mark.ray
def test_without_ray_the_single_process_client_works_and_the_flag_says_what_to_install(fast_server):
    proc = run_script(
        f"""
        import sys
        sys.modules["ray"] = None  # `import ray` now raises ImportError, as when it is not installed
        import numpy as np
        from deploy_compare.clients import Endpoint, LoadConfig, build_payloads, run_closed_loop
        ep = Endpoint(url={fast_server!r}, encoding="torchserve", model="trivial")
        payloads = build_payloads(ep, np.zeros((4, 1, 8, 8), dtype=np.float32))
        r = run_closed_loop(ep, payloads, LoadConfig(duration_s=0.5, warmup_s=0.1, min_requests=20))
        print("single", r.completed, r.client_processes)
        from deploy_compare.cli import main
        sys.exit(main(["load", "--protocol", "torchserve", "--url", {fast_server!r}, "--client-processes", "2"]))
        """,
        timeout=60,
    )
    assert proc.returncode != 0
    single = next(line for line in proc.stdout.splitlines() if line.startswith("single"))
    assert int(single.split()[1]) >= 20 and single.split()[2] == "1"
    assert "need Ray" in proc.stderr + proc.stdout and "pip install ray==2.60.0" in proc.stderr + proc.stdout


@pytest.mark.ray
def test_the_pipeline_checks_the_cluster_before_any_server_starts(tmp_path):
    import socket

    from deploy_compare.deploy.config import load_run_config
    from deploy_compare.deploy.pipeline import Pipeline
    from deploy_compare.deploy.served import scale_out

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    runs = tmp_path / "runs"
    load = {"client_processes": 2, "ray_address": dead}
    config = load_run_config(overrides={"run": {"runs_dir": str(runs), "targets": ["torchserve"]}, "load": load})
    assert scale_out(config).to_dict() == {"client_processes": 2, "ray_address": dead}
    started = []
    with pytest.raises(ConfigError, match="unreachable"):
        Pipeline(config, argv=["test"], on_server_started=lambda *a: started.append(a)).run()
    assert not started and not runs.exists()  # nothing ran: no export, no server, no run directory
    with pytest.raises(ConfigError, match=r"\[load\]: client_processes must be an integer >= 1"):
        scale_out(load_run_config(overrides={"load": {"client_processes": 0}}))


@pytest.mark.ray
def test_the_pipeline_measures_torchserve_from_two_actors_and_the_report_says_so(exported, tmp_path):
    from deploy_compare.deploy.affinity import plan_cores
    from deploy_compare.deploy.config import load_run_config
    from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult
    from deploy_compare.deploy.served import run_served_target
    from deploy_compare.report import tables
    from deploy_compare.servers.torchserve.native import native_unavailable_reason

    if native_unavailable_reason() is not None:
        pytest.skip(f"native TorchServe: {native_unavailable_reason()}")
    out_dir, _ = exported
    config = load_run_config(
        overrides={
            "run": {"server_mode": "native", "targets": ["torchserve"]},
            "torchserve": {"workers": 1, "torch_threads": 1},
            "load": {
                "batch_sizes": [1],  # the actors' merge is the subject, not batch sizes
                "encodings": ["json"],  # nor encodings
                "concurrency": [2],
                "warmup_s": 0.3,
                "duration_s": 1.5,
                "min_requests": 30,
                "client_processes": 2,
            },
            "slo": {
                "confidence": 0.5,
                "duration_s": 3.0,
                "max_duration_s": 3.0,  # not stretched at low rates: short trials
                "max_trials": 2,
                "start_rate_rps": 60.0,
            },
        }
    )
    result = ServedResult(target="torchserve", status="OK", artifact="torchscript")
    lines: list[str] = []

    class Progress:
        def line(self, text: str) -> None:
            lines.append(text)

        def load_callback(self, label: str):
            return None

    run_served_target("torchserve", config, out_dir, tmp_path, plan_cores(), result, lambda: None, Progress())
    assert result.load_client == {"client_processes": 2, "ray_address": None}
    point = result.sweep[0]
    assert point["concurrency"] == 2 and point["client_processes"] == 2 and sum(point["errors"].values()) == 0
    assert [a["concurrency"] for a in point["client_actors"]] == [1, 1]
    assert {a["node_ip"] for a in point["client_actors"]} == {"127.0.0.1"}
    assert point["top1_agreement"] >= 0.98 and point["completed"] == point["requests"]
    trials = result.slo["trials"]
    assert trials and all(t["result"]["client_processes"] == 2 for t in trials)
    assert any("2 client actors" in line for line in lines)
    doc = RunResults(run=RunInfo(id="t", profile="quick", started_utc="", command=""), settings={}, served=[result])
    sweep = tables.sweep_table(doc)
    assert sweep.headers[-1] == "load client" and sweep.rows[0][-1].startswith("2 actors: ")
    assert tables.slo_trials_table(doc).rows[0][-1].startswith("2 actors: ")


@pytest.mark.unit
def test_the_label_says_how_many_processes_on_which_nodes():
    from deploy_compare.clients.results import client_processes_label

    assert client_processes_label({}) == "1 process"
    two_nodes_one_host = [
        {"node_id": "abcdef12", "hostname": "vm", "core": 0},
        {"node_id": "99887766", "hostname": "vm"},
    ]
    assert client_processes_label({"client_actors": two_nodes_one_host, "lost_shares": [{}]}) == (
        "2 actors: vm/abcdef x1, vm/998877 x1 (cores 0); 1 lost"
    )
    one_node = [{"node_id": "n1", "hostname": "a", "core": 0}, {"node_id": "n1", "hostname": "a", "core": 1}]
    assert client_processes_label({"client_actors": one_node}) == "2 actors: a x2 (cores 0,1)"
