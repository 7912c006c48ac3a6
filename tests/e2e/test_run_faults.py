"""Faults during a run: a server killed mid-run, Ctrl-C, a closed terminal. Nothing measured is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.pipeline import Pipeline
from deploy_compare.deploy.results import load_results
from deploy_compare.progress import ProgressLog
from deploy_compare.report import render_all

pytestmark = pytest.mark.e2e


def test_server_killed_mid_run_fails_only_that_target(short_config, tmp_path):
    settings, _ = short_config
    config = load_run_config(
        settings,
        quick=True,
        overrides={
            "run": {
                "runs_dir": str(tmp_path / "runs"),
                "targets": ["torchserve", "tfserving"],
                "serve": ["torchserve", "tfserving"],  # each on its own format only
            },
            "load": {"concurrency": [1, 2, 4], "duration_s": 2.0, "max_duration_s": 3.0},
            # the in-process stage only has to survive: one artifact, one profile
            "local": {"profiles": ["edge"], "artifacts": ["onnx"]},
        },
    )
    killed = {}

    def kill_soon(kind, launcher):
        # SIGKILL the whole server tree while the first load level is running.
        def kill():
            time.sleep(0.8)
            root = psutil.Process(launcher.pid)
            victims = [root, *root.children(recursive=True)]
            killed["pids"] = [p.pid for p in victims]
            for proc in victims:
                proc.kill()

        threading.Thread(target=kill, daemon=True).start()

    pipeline = Pipeline(
        config,
        argv=["deploy-compare", "run", "--quick"],
        progress=ProgressLog(open(os.devnull, "w")),
        render=render_all,
        on_server_started=kill_soon,
    )
    run_dir = pipeline.run()
    results = load_results(run_dir)
    stages = {s.name: s for s in results.run.stages}
    assert results.run.complete
    assert stages["export"].status == "OK" and stages["local"].status == "OK"
    assert stages["torchserve"].status == "FAILED"
    assert stages["tfserving"].status == "SKIPPED"  # the next target still ran its course
    ts = next(s for s in results.served if s.target == "torchserve")
    assert ts.status == "FAILED" and ts.reason
    assert any(word in ts.reason for word in ("exited", "nothing answered", "connect")), ts.reason
    assert [(r["artifact"], r["status"]) for r in results.local] == [("onnx", "OK")]  # the in-process row survived
    assert "FAILED" in (run_dir / "report.md").read_text()
    assert killed["pids"] and not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in killed["pids"]
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_interrupt_stops_servers_and_keeps_partial_results(small_run, cli_command, server_processes, stop_signal):
    settings, runs = small_run  # the in-process stage on one artifact: TorchServe is up soon
    proc = subprocess.Popen(
        [*cli_command, "run", "--quick", "--config", str(settings), "--runs-dir", str(runs), "--targets", "torchserve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seen = []
    try:
        deadline = time.monotonic() + 600
        for line in proc.stdout:  # wait until TorchServe is up and being measured
            seen.append(line)
            if "torchserve: healthy" in line or time.monotonic() > deadline:
                break
        assert any("torchserve: healthy" in line for line in seen), "".join(seen)[-2000:]
        time.sleep(0.5)
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "partial results" in err
    run_dir = (runs / "latest").resolve()
    results = load_results(run_dir)
    assert results.run.interrupted and not results.run.complete
    stages = {s.name: s.status for s in results.run.stages}
    assert stages["export"] == "OK" and stages["local"] == "OK" and stages["torchserve"] == "INTERRUPTED"
    assert (run_dir / "report.md").is_file()
    assert server_processes(run_dir) == [], "a TorchServe process outlived the interrupted run"


def test_a_stack_that_cannot_start_is_a_failed_row_with_its_log_tail(short_config, tmp_path):
    """The FastAPI baseline given no time to come up: FAILED with the reason and the log's
    last lines in results.json, the next target still runs, nothing is left running."""
    settings, _ = short_config
    config = load_run_config(
        settings,
        quick=True,
        overrides={
            "run": {"runs_dir": str(tmp_path / "runs"), "targets": ["fastapi_onnx", "tfserving"]},
            "local": {"profiles": ["edge"], "artifacts": ["onnx"]},
            "fastapi_onnx": {"start_timeout_s": 0.01},
        },
    )
    started = {}
    pipeline = Pipeline(
        config,
        argv=["deploy-compare", "run", "--quick"],
        progress=ProgressLog(open(os.devnull, "w")),
        render=render_all,
        on_server_started=lambda kind, launcher: started.setdefault(kind, launcher),
    )
    run_dir = pipeline.run()
    results = load_results(run_dir)
    stages = {s.name: s.status for s in results.run.stages}
    # the next target still runs: its stage is reached and ends as TF Serving ends on every machine
    # here (its server is on none: tests/ci_policy.py), SKIPPED with the reason
    tfserving = next(s for s in results.served if s.target == "tfserving")
    assert (stages["fastapi_onnx"], stages["tfserving"]) == ("FAILED", "SKIPPED") and tfserving.reason, stages
    row = next(s for s in results.served if s.target == "fastapi_onnx")
    assert row.status == "FAILED" and "did not become healthy within" in row.reason
    assert row.log and (run_dir / row.log).is_file()
    # the row's tail is exactly the log's last lines (None only when the server printed nothing:
    # stopped after 0.01 s, it has not yet, so a non-empty tail needs a scenario that prints)
    from deploy_compare.servers.process import log_tail as server_log_tail

    assert row.log_tail == (server_log_tail(run_dir / row.log) or None), row.log_tail
    assert "fastapi_onnx" not in started
    assert _service_processes_of(run_dir) == []


def _service_processes_of(run_dir) -> list[int]:
    """FastAPI baseline processes started for this run (their spec file lies in run_dir)."""
    pids = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "fastapi_service.app:create_app" in " ".join(p.info["cmdline"] or []) and str(
                run_dir
            ) in p.environ().get("DC_SERVICE_SPEC", ""):
                pids.append(p.pid)
        except psutil.Error:
            continue
    return pids


# ---- the run killed outright (SIGKILL): nothing it started survives; it resumes ----------------

#: a small run: the in-process stage on one artifact (+ [local.measure] of conftest.py), one
#: short served target, no tuning
SMALL_RUN = """
[local]
profiles = ["edge"]
artifacts = ["onnx"]
"""
SMALL_LOAD = """
[load]
concurrency = [1, 2]
warmup_s = 0.2
duration_s = 1.0
min_requests = 20
batch_sizes = [1]
batch_concurrency = []
encodings = ["json"]
[slo]
confidence = 0.5           # 138 requests decide a clean pass: 2 s trials can
duration_s = 2.0
max_duration_s = 2.0         # never stretched at low rates: the mechanics, not the reach, are under test
max_trials = 2
[tune]
enabled = false
"""
GONE_WITHIN_S = 10.0  # the watchdog polls every 0.2 s, then SIGTERM, 2 s, SIGKILL


@pytest.fixture
def small_run(short_config, short_measure, tmp_path, monkeypatch):
    """(settings file, runs dir): SMALL_RUN on the session's artifacts copy; pidfiles and
    watchdog logs in this test's own state directory."""
    _, artifacts = short_config
    settings = tmp_path / "small.toml"
    settings.write_text(f'[run]\nartifacts_dir = "{artifacts}"\n' + SMALL_RUN + short_measure + SMALL_LOAD)
    monkeypatch.setenv("DEPLOY_COMPARE_STATE_DIR", str(tmp_path / "state"))
    return settings, tmp_path / "runs"


def _start_run(cli_command, settings, runs, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*cli_command, "run", "--quick", "--config", str(settings), "--runs-dir", str(runs), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _wait_for_line(proc: subprocess.Popen, marker: str, timeout_s: float = 400) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    assert any(marker in line for line in seen), "".join(seen)[-3000:]
    return seen


def _gone_after(find, timeout_s: float) -> float | None:
    """Seconds until find() returns nothing, or None when something is still there at timeout_s."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if not find():
            return time.monotonic() - began
        time.sleep(0.05)
    return None


def _watchdog_of(pid: int) -> psutil.Process:
    for child in psutil.Process(pid).children():
        if "deploy_compare.servers.supervisor" in " ".join(child.cmdline()):
            return child
    raise AssertionError(f"no watchdog under pid {pid}")


def test_sigkill_during_a_native_stack_leaves_no_server_and_an_interrupted_stage(small_run, cli_command):
    settings, runs = small_run
    proc = _start_run(cli_command, settings, runs, "--targets", "fastapi_onnx")
    try:
        _wait_for_line(proc, "fastapi_onnx: healthy")
        run_dir = (runs / "latest").resolve()
        servers = _service_processes_of(run_dir)
        assert servers, "no FastAPI server process found while it was being measured"
        proc.kill()  # SIGKILL: no handler, no finally, no atexit runs in the orchestrator
        proc.wait(timeout=30)
        seconds = _gone_after(lambda: _service_processes_of(run_dir), GONE_WITHIN_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seconds is not None, f"FastAPI processes outlived the killed run: {_service_processes_of(run_dir)}"
    print(f"native: last server process gone {seconds:.2f} s after kill -9")
    results = load_results(run_dir)
    stages = {s.name: s for s in results.run.stages}
    assert not results.run.complete
    assert stages["export"].status == "OK" and stages["local"].status == "OK"
    cut = stages["fastapi_onnx"]
    assert cut.status == "INTERRUPTED" and cut.progress, cut  # never OK: the run never finished it
    assert next(s for s in results.served if s.target == "fastapi_onnx").status == "INTERRUPTED"


def test_sigkill_during_a_docker_stack_leaves_no_container(small_run, cli_command, docker_client, torchserve_base):
    from deploy_compare.servers.supervisor import LABEL, RUN_DIR_LABEL

    settings, runs = small_run
    proc = _start_run(
        cli_command,
        settings,
        runs,
        "--targets",
        "torchserve",
        "--server-mode",
        "docker",
        "--torchserve-base-image",
        torchserve_base,
    )

    def containers() -> list[str]:
        # sparse: a container removed between the listing and its inspect must not fail the poll
        found = docker_client.api.containers(all=True, filters={"label": LABEL})
        return [c["Names"][0] for c in found if c["Labels"].get(RUN_DIR_LABEL, "").startswith(str(runs.resolve()))]

    try:
        _wait_for_line(proc, "torchserve: healthy", timeout_s=900)
        assert containers(), "no labelled container while TorchServe was being measured"
        proc.kill()
        proc.wait(timeout=30)
        seconds = _gone_after(containers, GONE_WITHIN_S + 10)  # docker rm -f of a running container
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seconds is not None, f"containers outlived the killed run: {containers()}"
    print(f"docker: last container gone {seconds:.2f} s after kill -9")


def test_leftover_of_a_killed_run_is_stopped_by_the_resume_which_keeps_what_was_measured(
    small_run, cli_command, cli_runner
):
    """Orchestrator AND watchdog SIGKILLed (nothing left to clean up): the server survives; the
    resume's preflight names and stops it, re-runs the cut stage, keeps the complete ones as
    they were, and ends with a report whose kept sections equal the killed run's."""
    settings, runs = small_run
    proc = _start_run(cli_command, settings, runs, "--targets", "fastapi_onnx")
    try:
        _wait_for_line(proc, "fastapi_onnx: healthy")
        run_dir = (runs / "latest").resolve()
        _watchdog_of(proc.pid).kill()
        time.sleep(0.3)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(2.0)
    leftovers = _service_processes_of(run_dir)
    assert leftovers, "the server did not survive its run and watchdog: nothing for the preflight to find"
    before = load_results(run_dir)
    killed_report = cli_runner("report", str(run_dir))
    assert killed_report.returncode == 0, killed_report.stderr
    killed_local = _section(run_dir / "report.md", "In-process benchmark")

    resumed = cli_runner("run", "--resume", str(run_dir), timeout=600)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-3000:]
    assert "preflight: stopped a leftover server" in out and str(min(leftovers)) in out, out[-3000:]
    assert _service_processes_of(run_dir) == [] or not set(leftovers) & set(_service_processes_of(run_dir))
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in leftovers)
    after = load_results(run_dir)
    assert after.run.complete and not after.run.interrupted
    assert [(s.name, s.status) for s in after.run.stages] == [("export", "OK"), ("local", "OK"), ("fastapi_onnx", "OK")]
    assert after.run.stages[:2] == before.run.stages[:2]  # kept as they were, not measured again
    assert after.local == before.local and after.artifacts == before.artifacts
    assert [r["kept"] for r in after.run.resumed] == [["export", "local"]]
    served = next(s for s in after.served if s.target == "fastapi_onnx")
    assert served.status == "OK" and served.sweep and served.slo
    assert _section(run_dir / "report.md", "In-process benchmark") == killed_local


def test_a_cpu_hog_stops_the_run_before_it_measures(small_run, cli_command):
    settings, runs = small_run
    strict = settings.with_name("strict.toml")
    text = settings.read_text().replace("[run]\n", '[run]\nbusy_machine = "stop"\nbusy_cpu_share = 0.2\n', 1)
    strict.write_text(text)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        proc = subprocess.run(
            [*cli_command, "run", "--quick", "--config", str(strict), "--runs-dir", str(runs)],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        hog.kill()
        hog.wait()
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert f"pid {hog.pid}" in proc.stderr and "busy" in proc.stderr, proc.stderr[-2000:]
    assert not list(runs.glob("*/results.json")), "a run directory was measured into"


def _section(report_md, title: str) -> str:
    """The text of one `## title` section of report.md."""
    text = report_md.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]
