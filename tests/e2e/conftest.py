"""A real `deploy-compare run` on the built-in model with short settings, shared by the e2e tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "deploy-compare")

# The Docker fixtures (engine client, TorchServe base image) live with the servers tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servers"))
from docker_fixtures import docker_client, torchserve_base  # noqa: E402, F401

# The in-process benchmark's short measurement, shared by every e2e settings file.
SHORT_MEASURE = """
[local.measure]
warmup_iterations = 3
min_iterations = 30
min_duration_s = 0.2
throughput_min_iterations = 3
throughput_min_duration_s = 0.1
correctness_samples = 32
max_duration_s = 0.5         # the single-stream run's cap while its intervals narrow
"""
# Short but complete: every stage runs for real, only the durations shrink.
SHORT_SETTINGS = (
    """
[local]
profiles = ["server", "edge"]
server_threads = [1]"""
    + SHORT_MEASURE
    + """[load]
concurrency = [1, 4]
warmup_s = 0.2
duration_s = 1.0
min_requests = 30
max_duration_s = 2.0         # a level's cap while its intervals narrow ([quick.load] precision)
batch_sizes = [1, 8]         # the batch dimension and a tune stage (1 setting a stack) run too
batch_concurrency = [1]
encodings = ["json", "binary"]  # two show the choice of the best; gRPC's own tests are the servers'
[slo]
confidence = 0.9             # a pass after ~300 requests, not ~528: trials decide sooner
duration_s = 3.0             # each trial's cap (>= ~100/s here)
max_duration_s = 3.0         # not stretched at low rates (tests/client/test_slo_unit.py tests that)
max_trials = 2               # pass, then double: the search's mechanics (tests/client bisect)
[tune]
enabled = true
max_settings = 1
"""
)


@pytest.fixture(scope="session")
def short_measure() -> str:
    """SHORT_MEASURE: the [local.measure] table of the e2e settings."""
    return SHORT_MEASURE


@pytest.fixture(scope="session")
def short_config(tmp_path_factory, exported) -> tuple[Path, Path]:
    """(settings file, artifacts copy): the run re-verifies the copy and reuses its files."""
    root = tmp_path_factory.mktemp("e2e")
    artifacts = root / "artifacts"
    shutil.copytree(exported[0], artifacts)
    settings = root / "short.toml"
    settings.write_text(f'[run]\nartifacts_dir = "{artifacts}"\nruns_dir = "{root / "runs"}"\n' + SHORT_SETTINGS)
    return settings, artifacts


@pytest.fixture(scope="session")
def quick_run(short_config):
    """(CompletedProcess, run directory) of one full CLI run."""
    settings, _ = short_config
    proc = subprocess.run(
        [CLI, "run", "--quick", "--config", str(settings)],
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    runs = settings.parent / "runs"
    return proc, (runs / "latest").resolve()


@pytest.fixture
def cli_command() -> list[str]:
    return [CLI]


@pytest.fixture
def server_processes():
    """A function: pids of TorchServe processes (Java frontend or Python workers) whose
    command line mentions the given run directory."""
    return java_processes_under


def java_processes_under(path: Path) -> list[int]:
    """Live processes (TorchServe's Java frontend, its Python workers) started for `path`:
    their command line or working directory lies in it."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd", "status"]):
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(info.get("cmdline") or [])
        if str(path) in cmdline or str(path) in (info.get("cwd") or ""):
            found.append(info["pid"])
    return found


@pytest.fixture
def cli_runner():
    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    return run
