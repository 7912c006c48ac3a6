"""The preflight's busy check and `run --resume`'s checks, on real processes and a synthetic manifest."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult, StageRecord
from deploy_compare.errors import BusyMachineError, ConfigError, ResumeError
from deploy_compare.progress import ProgressLog

pytestmark = pytest.mark.unit


class Lines(ProgressLog):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


def test_a_busy_stranger_is_named_and_the_runs_own_children_are_not(tmp_path, monkeypatch):
    from deploy_compare.deploy.preflight import busy_processes, check_machine

    monkeypatch.setenv("DEPLOY_COMPARE_STATE_DIR", str(tmp_path / "state"))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # our child: part of the run
    stranger = subprocess.Popen(  # a grandchild in its own session whose parent exits: not ours
        [
            sys.executable,
            "-c",
            "import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', 'while True: pass'], start_new_session=True).pid)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stranger.stdout is not None
    stranger_pid = int(stranger.stdout.readline())
    stranger.wait()
    try:
        time.sleep(0.3)
        busy, _steal = busy_processes(range(64), 0.1, 1.0)
        pids = [b.pid for b in busy]
        assert stranger_pid in pids and hog.pid not in pids
        run = load_run_config(overrides={"run": {"busy_machine": "stop", "busy_cpu_share": 0.1}}).run
        with pytest.raises(BusyMachineError, match=f"pid {stranger_pid}"):
            check_machine(run, range(64), Lines(), where="preflight")
        warn = load_run_config(overrides={"run": {"busy_machine": "warn", "busy_cpu_share": 0.1}}).run
        log = Lines()
        check = check_machine(warn, range(64), log, where="before stage local")
        assert any(f"pid {stranger_pid}" in b for b in check.to_dict()["busy"])
        assert check.load_average and len(check.load_average) == 3
        assert any("WARNING" in line and str(stranger_pid) in line for line in log.lines)
    finally:
        hog.kill()
        subprocess.run(["kill", "-9", str(stranger_pid)], check=False)


@pytest.mark.parametrize(
    "run_table", [{"busy_machine": "maybe"}, {"busy_cpu_share": 0}, {"busy_sample_s": "1"}], ids=str
)
def test_busy_settings_are_validated(run_table):
    with pytest.raises(ConfigError, match="run.busy"):
        load_run_config(overrides={"run": run_table})


def _results(manifest_dir) -> RunResults:
    from dataclasses import asdict

    from deploy_compare.manifest import load_manifest

    manifest = load_manifest(manifest_dir)
    stages = [
        StageRecord("export", "OK", 1.0),
        StageRecord("local", "OK", 2.0),
        StageRecord("triton", "OK", 3.0),
        StageRecord("torchserve", "INTERRUPTED", 4.0, "cut off", progress="1 closed-loop levels"),
    ]
    return RunResults(
        run=RunInfo(id="r", profile="quick", started_utc="now", command="x", stages=stages),
        settings=load_run_config(quick=True).raw,
        model=asdict(manifest.model),
        artifacts={name: asdict(entry) for name, entry in manifest.artifacts.items()},
        local=[{"artifact": "onnx", "repetition": 1}],
        served=[
            ServedResult("triton", "OK", sweep=[{"concurrency": 1}]),
            ServedResult("torchserve", "INTERRUPTED", sweep=[{"concurrency": 1, "repetition": 1}]),
        ],
    )


def test_cut_back_keeps_the_complete_stages_and_drops_the_cut_one(synthetic_manifest):
    from deploy_compare.deploy.pipeline import stage_plan
    from deploy_compare.deploy.resume import cut_back

    results = _results(synthetic_manifest)
    plan = {name: (kind, rep) for name, kind, rep in stage_plan(["triton", "torchserve"], 1)}
    kept, dropped = cut_back(results, plan)
    assert (kept, dropped) == (["export", "local", "triton"], ["torchserve"])
    assert [s.target for s in results.served] == ["triton"] and results.local


def test_resume_refuses_a_changed_artifact_another_model_and_other_settings(synthetic_manifest, tmp_path):
    import shutil

    from deploy_compare.deploy.resume import check_same_artifacts, check_same_settings

    copy = tmp_path / "artifacts"
    shutil.copytree(synthetic_manifest, copy)
    results = _results(copy)
    check_same_artifacts(results, copy)  # unchanged: no error
    check_same_settings(results, load_run_config(quick=True))
    with pytest.raises(ResumeError, match=r"\[load\] duration_s"):
        check_same_settings(results, load_run_config(quick=True, overrides={"load": {"duration_s": 9.0}}))
    with pytest.raises(ResumeError, match="profile"):
        check_same_settings(results, load_run_config(quick=False))
    (copy / "model.onnx").write_bytes(b"another model")
    with pytest.raises(ResumeError, match="'onnx'.*corrupt or changed"):
        check_same_artifacts(results, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"]["name"] = "another"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ResumeError, match="another model"):
        check_same_artifacts(results, copy)


def test_the_run_table_shows_the_machine_and_the_stages_say_how_far_and_beside_what():
    from deploy_compare.report.tables import header_table, stages_table

    results = RunResults(
        run=RunInfo(
            id="r",
            profile="quick",
            started_utc="now",
            command="x",
            machine={
                "load_average": [1.5, 1.2, 0.9],
                "steal_percent": 0.4,
                "busy": ["stress (pid 42, 98% of a core)"],
                "leftovers_stopped": ["torchserve-native pid 7 of run runs/old (its run, pid 6, is gone)"],
            },
            stages=[
                StageRecord("local", "OK", 2.0, busy=["stress (pid 42, 98% of a core)"]),
                StageRecord("triton", "INTERRUPTED", 3.0, "cut off", progress="2 closed-loop levels"),
            ],
        ),
        settings={},
    )
    header = {row[0]: row[1] for row in header_table(results, None).rows}
    assert (
        "load average 1.5 / 1.2 / 0.9" in header["machine before the run"]
        and "0.4 %" in header["machine before the run"]
    )
    assert header["busy processes seen"] == "stress (pid 42, 98% of a core)"
    assert "pid 7 of run runs/old" in header["leftover servers stopped"]
    stages = {row[0]: row[3] for row in stages_table(results).rows}
    assert "MEASURED BESIDE BUSY PROCESSES: stress (pid 42" in stages["local"]
    assert "got as far as: 2 closed-loop levels" in stages["triton"]


def test_resume_refuses_a_run_that_is_still_going_or_complete(synthetic_manifest, tmp_path):
    import os

    import psutil

    from deploy_compare.deploy.resume import load_for_resume

    results = _results(synthetic_manifest)
    results.run.pid, results.run.pid_started = os.getpid(), psutil.Process().create_time()
    results.write(tmp_path)
    with pytest.raises(ResumeError, match=f"still going \\(pid {os.getpid()}\\)"):
        load_for_resume(tmp_path)
    results.run.pid_started -= 100  # another process that had this pid: gone
    results.write(tmp_path)
    assert load_for_resume(tmp_path).run.stages
    results.run.complete = True
    results.write(tmp_path)
    with pytest.raises(ResumeError, match="completed"):
        load_for_resume(tmp_path)
