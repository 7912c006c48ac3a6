"""`deploy-compare run` with TorchServe in a real container (stand-in base, real engine):
the row records docker mode, the image and its build time, the server's runtime next to the
exporter's, the cores given by the engine's cpuset, and no container with the toolkit's
label remains. Skips with the reason where no engine answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploy_compare.deploy.results import load_results
from deploy_compare.servers.supervisor import LABEL, RUN_DIR_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]  # the whole run, in the docker tier


# The docker tier's CI budget: what these tests are about is the served target in a container,
# so the shared e2e settings shrink to it: the in-process stage on one artifact, TorchServe
# on its own format, one encoding at batch size 1, no tune stage (the shared e2e run covers
# the rest natively; each of these was a minute here).
NARROWER = {
    '\n[local]\nprofiles = ["server", "edge"]\n': '\n[local]\nprofiles = ["edge"]\nartifacts = ["onnx"]\n',
    "[run]\n": '[run]\nserve = ["torchserve"]\n',
    "batch_sizes = [1, 8]": "batch_sizes = [1]",
    'encodings = ["json", "binary"]': 'encodings = ["json"]',
    "[tune]\nenabled = true": "[tune]\nenabled = false",
}


def _cmd(cli_command, settings: Path, runs: Path, base: str) -> list[str]:
    docker_settings = runs.parent / "docker.toml"
    text = settings.read_text()
    for shared, narrower in NARROWER.items():
        assert shared in text, shared  # the shared e2e settings changed: mend NARROWER
        text = text.replace(shared, narrower, 1)
    docker_settings.write_text(text)
    return [
        *cli_command,
        "run",
        "--quick",
        "--config",
        str(docker_settings),
        "--runs-dir",
        str(runs),
        "--targets",
        "torchserve",
        "--server-mode",
        "docker",
        "--torchserve-base-image",
        base,
    ]


def _containers_under(client, runs: Path) -> list[str]:
    """Labelled containers (running or not) whose run directory lies under `runs`."""
    found = client.containers.list(all=True, filters={"label": LABEL})
    return [c.name for c in found if c.labels.get(RUN_DIR_LABEL, "").startswith(str(runs.resolve()))]


def test_run_measures_torchserve_in_docker_and_records_image_versions_and_cores(
    short_config,
    tmp_path,
    cli_command,
    docker_client,
    torchserve_base,
):
    settings, _ = short_config
    runs = tmp_path / "runs"
    proc = subprocess.run(
        _cmd(cli_command, settings, runs, torchserve_base),
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "torchserve: image deploy-compare/torchserve:" in proc.stdout  # built by make_launcher, once
    results = load_results((runs / "latest").resolve())
    (ts,) = results.served
    assert ts.status == "OK" and ts.mode == "docker" and ts.reason is None
    assert ts.image.startswith("deploy-compare/torchserve:") and ts.image_build_s >= 0 and ts.startup_s > 0
    assert ts.versions["server"]["torch"] == ts.versions["exporter"]["torch"]
    assert [level["concurrency"] for level in ts.sweep] == [1, 4]
    assert all(level["completed"] >= 30 and level["top1_agreement"] >= 0.97 for level in ts.sweep)
    cores = results.run.cores
    if not cores["shared"]:
        assert ts.server_cores == cores["server_cores"] and ts.client_cores == cores["client_cores"]
    assert _containers_under(docker_client, runs) == []


# A SIGTERM with the container up is tested on `deploy-compare serve` (tests/servers/
# test_docker_real.py): a second pipeline run here would cost ~2 minutes of the CI budget
# for the same stop_signals -> KeyboardInterrupt -> Launcher.stop path.
