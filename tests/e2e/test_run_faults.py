"""Faults during a run: a server killed mid-run, Ctrl-C, a closed terminal. Nothing measured is lost."""

from __future__ import annotations

import os
import signal
import subprocess
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
            "run": {"runs_dir": str(tmp_path / "runs"), "targets": ["torchserve", "tfserving"]},
            "load": {"concurrency": [1, 2, 4], "duration_s": 2.0},
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
    assert len(results.local) == 9 * 2  # the in-process results survived
    assert "FAILED" in (run_dir / "report.md").read_text()
    assert killed["pids"] and not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in killed["pids"]
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_interrupt_stops_servers_and_keeps_partial_results(
    short_config, tmp_path, cli_command, server_processes, stop_signal
):
    settings, _ = short_config
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [*cli_command, "run", "--quick", "--config", str(settings), "--runs-dir", str(runs)],
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
            "local": {"profiles": ["edge"]},
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
