"""Real servers that need what this machine may lack: a Docker engine, tensorflow_model_server.

Each test skips with the reason when its requirement is missing; where it runs, it starts
the real server, predicts the eval samples and compares with the reference logits.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from deploy_compare.manifest import load_manifest, to_artifact_layout
from deploy_compare.servers import TFServingConfig, TorchServeConfig, make_launcher
from deploy_compare.servers.docker_base import docker_unavailable_reason
from deploy_compare.servers.tfserving_native import native_unavailable_reason as tfs_native_reason

DOCKER_REASON = docker_unavailable_reason()
TFS_REASON = tfs_native_reason()


def _check_predictions(launcher, artifacts, artifact_name):
    manifest = load_manifest(artifacts)
    with np.load(artifacts / "eval.npz") as data:
        x, reference = data["x"][:8], data["reference"][:8]
    layout = manifest.artifact(artifact_name).inputs[0].layout
    instances = to_artifact_layout(x, manifest.model.layout, layout).tolist()
    ep = launcher.endpoint
    response = httpx.post(ep.predict_url, json={"instances": instances}, headers=ep.headers, timeout=60.0)
    assert response.status_code == 200, response.text
    got = np.asarray(response.json()["predictions"], dtype=np.float32)
    np.testing.assert_allclose(got, reference, atol=1e-3)


@pytest.mark.docker
@pytest.mark.timeout(1800)
@pytest.mark.skipif(DOCKER_REASON is not None, reason=f"Docker: {DOCKER_REASON}")
def test_torchserve_in_docker_serves_the_model_with_the_key(artifacts, tmp_path):
    launcher = make_launcher(
        "torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path, config=TorchServeConfig(start_timeout_s=900)
    )
    with launcher:
        _check_predictions(launcher, artifacts, "torchscript")
        ep = launcher.endpoint
        refused = httpx.post(ep.predict_url, json={"instances": [[[[0.0] * 8] * 8]]}, timeout=30.0)
        assert refused.status_code in (400, 401, 403)
        name = launcher.container_name
    import docker

    client = docker.from_env()
    assert not client.containers.list(all=True, filters={"name": name})
    assert launcher.log_path.stat().st_size > 0


@pytest.mark.docker
@pytest.mark.timeout(1800)
@pytest.mark.skipif(DOCKER_REASON is not None, reason=f"Docker: {DOCKER_REASON}")
@pytest.mark.parametrize("batching", [False, True])
def test_tfserving_in_docker_serves_the_model(artifacts, tmp_path, batching):
    launcher = make_launcher(
        "tfserving",
        "docker",
        manifest_dir=artifacts,
        run_dir=tmp_path,
        config=TFServingConfig(batching=batching, start_timeout_s=900),
    )
    with launcher:
        _check_predictions(launcher, artifacts, "savedmodel")


@pytest.mark.runtime
@pytest.mark.timeout(300)
@pytest.mark.skipif(TFS_REASON is not None, reason=f"native TF Serving: {TFS_REASON}")
def test_native_tfserving_serves_the_model(artifacts, tmp_path):
    launcher = make_launcher("tfserving", "native", manifest_dir=artifacts, run_dir=tmp_path)
    with launcher:
        _check_predictions(launcher, artifacts, "savedmodel")
        pid = launcher.pid
    import psutil

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
