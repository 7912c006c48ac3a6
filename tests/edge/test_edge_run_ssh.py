"""`deploy-compare edge-run` against a real sshd on 127.0.0.1 (conftest.py: sshd).

Two device shapes behind the same SSH path: a Python with only numpy and ai-edge-litert
(a fresh venv), and the aarch64 root file system of the arm tier, whose "python" is a
wrapper running Debian's arm64 Python under qemu-aarch64-static (results marked emulated).
The failure paths are real too: a port nobody listens on, a key the server does not
know, a host key the client has never seen, a device without numpy or a TFLite runtime,
and run_edge.py killed on the device while it measures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from deploy_compare.bench_local.schema import read_document
from deploy_compare.edge.emulation import emulator_prefix, python_command

pytestmark = pytest.mark.ssh

REPO = Path(__file__).resolve().parents[2]
FEW = "tflite_fp32,tflite_int8"  # two models keep the tier short; the arm and runtime tiers run all six


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deploy_compare.cli", "--quiet", "edge-run", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


def _edge_run(sshd, run_dir: Path, bundle: Path, *args: str, options: list[str] | None = None, timeout: float = 600):
    opts = [a for o in (sshd.client_options() if options is None else options) for a in ("--ssh-option", o)]
    cmd = _cli("--ssh", sshd.target, *opts, "--run", str(run_dir), "--bundle", str(bundle), *args)
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout, cwd=run_dir.parent)


@pytest.fixture
def run_and_bundle(edge_bundle, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bundle = tmp_path / "bundle"
    shutil.copytree(edge_bundle, bundle)
    return run_dir, bundle


def _remote_dir(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if " copied " in line)
    return line.split(":", 3)[-1].split(" in ")[0].rsplit("/bundle", 1)[0].split(":")[-1]


def _error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr  # one clear line, no traceback
    return lines[0]


def test_edge_run_on_a_device_with_only_numpy_and_litert(sshd, litert_venv, run_and_bundle):
    run_dir, bundle = run_and_bundle
    python = str(litert_venv / "bin" / "python")
    proc = _edge_run(sshd, run_dir, bundle, "--python", python, "--device", "venv-dev", "--quick", "--only", FEW)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "numpy" in proc.stdout and "ai-edge-litert" in proc.stdout  # the device check, said first
    assert "venv-dev: [1/2] tflite_fp32, 1 thread(s): measuring..." in proc.stdout  # its progress, passed on
    remote = _remote_dir(proc.stdout)
    assert remote.startswith("/tmp/deploy-compare-edge.") and not os.path.exists(remote)  # nothing left behind

    doc, results = read_document(run_dir / "edge" / "venv-dev.json")  # validated and ingested
    assert doc["device"] == "venv-dev" and [r.artifact for r in results] == FEW.split(",")
    venv_numpy = subprocess.run(
        [python, "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True
    )
    for r in results:
        assert r.status == "OK", r.reason
        assert r.machine["numpy"] == venv_numpy.stdout.strip()  # measured by the device's own Python
        assert not r.machine.get("emulated")
        assert r.top1_agreement is not None and r.top1_agreement >= 0.95


def test_a_config_host_with_keep_leaves_the_bundle_and_result_on_the_device(sshd, litert_venv, run_and_bundle):
    run_dir, bundle = run_and_bundle
    config = run_dir.parent / "deploy.toml"
    config.write_text(
        "[edge.hosts.board]\n"
        f'ssh = "{sshd.target}"\n'
        f'python = "{litert_venv / "bin" / "python"}"\n'
        f"ssh_options = {json.dumps(sshd.client_options())}\n"
    )
    cmd = _cli("--host", "board", "--config", str(config), "--run", str(run_dir), "--bundle", str(bundle))
    cmd += ["--quick", "--only", "tflite_fp32", "--keep"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    remote = Path(_remote_dir(proc.stdout))
    try:
        assert (remote / "bundle" / "run_edge.py").exists() and (remote / "result.json").exists()
        assert f"kept on the device: {sshd.target}:{remote}" in proc.stdout
        assert read_document(run_dir / "edge" / "board.json")[0]["device"] == "board"  # the config's label
    finally:
        shutil.rmtree(remote, ignore_errors=True)


def test_edge_run_on_the_emulated_aarch64_device(sshd, arm64_root, run_and_bundle, tmp_path):
    run_dir, bundle = run_and_bundle
    wrapper = tmp_path / "arm64-python"  # the device's "python": Debian's arm64 Python under qemu
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(python_command(arm64_root)) + ' "$@"\n')
    wrapper.chmod(0o755)
    emulator = " ".join(emulator_prefix(arm64_root))
    started = time.monotonic()
    proc = _edge_run(
        sshd, run_dir, bundle, "--python", str(wrapper), "--emulator", emulator, "--device", "qemu-arm64-ssh",
        "--quick", "--only", "tflite_int8",
    )  # fmt: skip
    print(f"edge-run over SSH to the emulated aarch64 device: {time.monotonic() - started:.1f} s\n{proc.stdout}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(aarch64)" in proc.stdout  # the device check saw the emulated machine
    doc, results = read_document(run_dir / "edge" / "qemu-arm64-ssh.json")
    assert [r.artifact for r in results] == ["tflite_int8"]  # full int8: the variant emulation got wrong once
    for r in results:
        assert r.status == "OK", r.reason
        assert r.machine["machine"] == "aarch64"
        assert "emulator" in r.machine["emulated"] and any(n.startswith("EMULATED") for n in r.notes)
        assert r.top1_agreement is not None and r.top1_agreement >= 0.95


def test_unreachable_port_is_one_line(sshd, run_and_bundle):
    import socket

    run_dir, bundle = run_and_bundle
    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        proc = subprocess.run(
            _cli("--ssh", f"{sshd.user}@127.0.0.1:{port}", *(a for o in sshd.client_options() for a in ("--ssh-option", o)),
                 "--run", str(run_dir), "--bundle", str(bundle)),
            capture_output=True, text=True, env=_env(), timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1
    line = _error_line(proc)
    assert f"127.0.0.1:{port} unreachable" in line and "Connection refused" in line
    assert not (run_dir / "edge").exists()


def test_refused_key_is_one_line(sshd, run_and_bundle):
    run_dir, bundle = run_and_bundle
    proc = _edge_run(sshd, run_dir, bundle, options=sshd.client_options(key="stranger_ed25519"), timeout=120)
    assert proc.returncode == 1
    assert "authentication refused" in _error_line(proc) and "Permission denied" in _error_line(proc)


def test_host_key_checking_stays_on(sshd, run_and_bundle, tmp_path):
    run_dir, bundle = run_and_bundle
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    options = [f"UserKnownHostsFile={empty}", *sshd.client_options()]  # the first value given wins in ssh
    proc = _edge_run(sshd, run_dir, bundle, options=options, timeout=120)
    assert proc.returncode == 1
    assert "Host key verification failed" in _error_line(proc)


def test_device_without_numpy_or_runtime_names_what_to_install(sshd, run_and_bundle, tmp_path):
    run_dir, bundle = run_and_bundle
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    proc = _edge_run(sshd, run_dir, bundle, "--python", str(bare / "bin" / "python"), timeout=120)
    assert proc.returncode == 1
    line = _error_line(proc)
    assert "lacks numpy and ai-edge-litert" in line and "-m pip install numpy ai-edge-litert" in line
    proc = _edge_run(sshd, run_dir, bundle, "--python", "/nonexistent/python3", timeout=120)
    assert "/nonexistent/python3 not found" in _error_line(proc)


def _runner_on_device(label: str) -> psutil.Process | None:
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if any(c.endswith("run_edge.py") for c in cmd) and label in cmd and "--child" not in cmd:
            return p
    return None


def test_run_killed_on_the_device_keeps_the_partial_result(sshd, litert_venv, run_and_bundle):
    run_dir, bundle = run_and_bundle
    label = "killed-dev"
    opts = [a for o in sshd.client_options() for a in ("--ssh-option", o)]
    cmd = _cli("--ssh", sshd.target, *opts, "--run", str(run_dir), "--bundle", str(bundle), "--device", label)
    cmd += ["--python", str(litert_venv / "bin" / "python"), "--quick", "--only", FEW]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    killed = None
    assert proc.stdout is not None
    for line in proc.stdout:  # the second row starts once the first is written to result.json.partial
        if f"{label}: [2/2]" in line:
            killed = _runner_on_device(label)
            assert killed is not None, "run_edge.py not found among this machine's processes"
            killed.send_signal(signal.SIGKILL)
            break
    rest, stderr = proc.communicate(timeout=120)
    assert killed is not None, rest + stderr
    assert proc.returncode == 1
    line = _error_line(subprocess.CompletedProcess(cmd, 1, rest, stderr))
    assert "run_edge.py killed on the device by SIGKILL" in line and "partial result (1 row(s)) kept" in line
    partial = run_dir / "edge-fetched" / f"{label}.partial.json"
    doc, results = read_document(partial)  # a valid document of the rows measured before the kill
    assert [r.artifact for r in results] == ["tflite_fp32"] and results[0].status == "OK"
    assert not (run_dir / "edge").exists()  # a cut-short run is never ingested as a device's result
    deadline = time.monotonic() + 30  # the clean-up stopped the orphaned measurement child too
    while _runner_on_device(label) is not None or any(
        label in (p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
    ):
        assert time.monotonic() < deadline, "processes of the killed run still run on the device"
        time.sleep(0.5)


def test_unknown_model_is_refused_before_the_device_is_touched(sshd, run_and_bundle):
    run_dir, bundle = run_and_bundle
    proc = _edge_run(sshd, run_dir, bundle, "--only", "tflite_int9", timeout=120)
    assert proc.returncode == 2
    assert "--only: not in the bundle" in _error_line(proc) and "tflite_int9" in _error_line(proc)
    assert "copied" not in proc.stdout and not (run_dir / "edge-fetched").exists()
