"""Servers in real containers on a real Docker engine (the `docker` tier).

TorchServe is built FROM the local stand-in base (no registry here), started, checked
against the reference logits with token auth on, and removed. TF Serving cannot exist
here: its launcher's mechanics run against a TEST-ONLY stand-in image (tests/servers/
tfserving_standin) that cannot predict and never reaches a report. Without an engine
every test here skips with the reason (fixtures probe, not collection).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from deploy_compare.errors import ImageBuildError
from deploy_compare.evaldata import EvalData
from deploy_compare.manifest import load_manifest, to_artifact_layout
from deploy_compare.servers import make_launcher
from deploy_compare.servers.supervisor import LABEL, RUN_DIR_LABEL
from deploy_compare.servers.tfserving.config import TFServingConfig
from deploy_compare.servers.torchserve.config import TorchServeConfig

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

ABSENT_BASE = "deploy-compare/absent-base:0"  # on no engine, and no registry to pull it from


def _check_predictions(launcher, artifacts, artifact_name):
    manifest = load_manifest(artifacts)
    data = EvalData.load(artifacts).head(8)
    x, reference = data.x, data.reference
    layout = manifest.artifact(artifact_name).inputs[0].layout
    instances = to_artifact_layout(x, manifest.model.layout, layout).tolist()
    ep = launcher.endpoint
    response = httpx.post(ep.predict_url, json={"instances": instances}, headers=ep.headers, timeout=60.0)
    assert response.status_code == 200, response.text
    got = np.asarray(response.json()["predictions"], dtype=np.float32)
    np.testing.assert_allclose(got, reference, atol=1e-3)


def _left_behind(client, run_dir: Path) -> list[str]:
    """Containers this test's run directory made that still exist (running or not)."""
    found = client.containers.list(all=True, filters={"label": f"{RUN_DIR_LABEL}={Path(run_dir).resolve()}"})
    return [c.name for c in found]


def test_torchserve_in_docker_serves_the_reference_with_token_auth_then_is_gone(
    artifacts, tmp_path, docker_client, torchserve_base
):
    config = TorchServeConfig(base_image=torchserve_base, start_timeout_s=300)
    launcher = make_launcher("torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path, config=config)
    launcher.cpuset = (0,)
    launcher.prepare()
    assert launcher.build_s is not None and launcher.image_tag.startswith("deploy-compare/torchserve:")
    with launcher:
        assert launcher.startup_s is not None
        _check_predictions(launcher, artifacts, "torchscript")
        ep = launcher.endpoint
        assert ep.base_url.startswith("http://127.0.0.1:")
        # every encoding, gRPC through the published gRPC inference port
        import encoding_checks

        assert ep.grpc_target is not None and ep.grpc_target.startswith("127.0.0.1:")
        encoding_checks.predictions_equal_the_reference(ep, "torchserve", artifacts, load_manifest(artifacts), 1e-3)
        refused = httpx.post(ep.predict_url, json={"instances": [[[[0.0] * 8] * 8]]}, timeout=30.0)
        assert refused.status_code in (400, 401, 403)  # token authorization is on
        container = docker_client.containers.get(launcher.container_name)
        assert container.labels[LABEL] == "torchserve"
        assert container.attrs["HostConfig"]["CpusetCpus"] == "0"  # the engine's cpuset
        assert container.attrs["Config"]["User"] == "model-server"
        # the image's torch is the one that wrote the TorchScript file (smoke-loaded at build)
        exporter_torch = launcher.model.entry.tools["torch"]
        assert launcher.runtime_versions["torch"] == exporter_torch
        assert launcher.runtime_versions["torchserve"] == "0.12.0"
    assert _left_behind(docker_client, tmp_path) == []
    log = launcher.log_path.read_text(errors="replace")  # the container's output, kept after its removal
    assert "Model server started" in log, log[-2000:]

    # content-addressed: the same model, config and base reuse the image
    again = make_launcher("torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path, config=config)
    assert again.prepare() == launcher.image_tag
    again.stop()


def test_a_torchscript_file_the_image_cannot_load_fails_the_build_naming_both_versions(
    manifest_copy, tmp_path, docker_client, torchserve_base
):
    from deploy_compare.manifest import load_manifest as load

    # A file torch cannot read stands for one written by a newer torch than the image's.
    model = manifest_copy / load(manifest_copy).artifact("torchscript").path
    model.write_bytes(b"PK\x03\x04 not a TorchScript archive")
    _refresh_sha(manifest_copy, "torchscript")
    config = TorchServeConfig(base_image=torchserve_base)
    with pytest.raises(ImageBuildError) as info:  # make_launcher builds the image (nothing starts)
        make_launcher("torchserve", "docker", manifest_dir=manifest_copy, run_dir=tmp_path, config=config)
    reason = info.value.reason
    assert "does not load in the image's runtime" in reason
    written_by = load(manifest_copy).artifact("torchscript").tools["torch"]
    assert f"written by torch {written_by}" in reason and "the image has torch 2.13.0" in reason
    assert _left_behind(docker_client, tmp_path) == []


def test_auto_mode_falls_back_to_native_when_the_base_image_is_unavailable(artifacts, tmp_path, docker_client):
    from deploy_compare.servers.torchserve.native import native_unavailable_reason

    if native_unavailable_reason() is not None:
        pytest.skip(f"native TorchServe: {native_unavailable_reason()}")
    config = TorchServeConfig(base_image=ABSENT_BASE)
    launcher = make_launcher("torchserve", "auto", manifest_dir=artifacts, run_dir=tmp_path, config=config)
    assert launcher.mode == "native"
    assert launcher.mode_note.startswith(f"docker: base image {ABSENT_BASE} not available: ")
    assert launcher.mode_note.endswith("; ran natively")

    # --server-mode docker fails with that reason instead (when make_launcher builds the image)
    with pytest.raises(ImageBuildError) as info:
        make_launcher("torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path, config=config)
    assert info.value.reason.startswith(f"docker: base image {ABSENT_BASE} not available: ")
    assert _left_behind(docker_client, tmp_path) == []


def test_tfserving_launcher_mechanics_against_a_stand_in_image(
    artifacts, tmp_path, docker_client, tfserving_standin_base
):
    """Build context, MODEL_NAME and model path, published port, health polling, removal.
    The stand-in answers model status only: no prediction, no figure."""
    config = TFServingConfig(base_image=tfserving_standin_base, batching=True, start_timeout_s=120)
    launcher = make_launcher("tfserving", "docker", manifest_dir=artifacts, run_dir=tmp_path, config=config)
    launcher.poll_interval_s = 0.1
    with launcher:
        ep = launcher.endpoint
        assert ep.base_url == f"http://127.0.0.1:{launcher.host_ports['8501/tcp']}"
        seen = httpx.get(f"{ep.base_url}/standin", timeout=10).json()
        assert seen["model_name"] == launcher.model.model_name  # MODEL_NAME build arg -> ENV
        assert "1/saved_model.pb" in seen["model_files"]  # the SavedModel at /models/<name>/1/
        assert seen["argv"] == ["--enable_batching=true", "--batching_parameters_file=/models/batching_parameters.txt"]
        status = httpx.get(ep.health_url, timeout=10).json()["model_version_status"][0]
        assert status["state"] == "AVAILABLE"  # healthy only after the LOADING answers
        container = docker_client.containers.get(launcher.container_name)
        assert container.labels[LABEL] == "tfserving"
        ports = container.attrs["HostConfig"]["PortBindings"]
        assert sorted(ports) == ["8500/tcp", "8501/tcp"]  # REST, and gRPC (the stand-in does not answer it)
        assert all(binding[0]["HostIp"] == "127.0.0.1" for binding in ports.values())
        assert ep.grpc_target == f"127.0.0.1:{launcher.host_ports['8500/tcp']}"
        assert int(ports["8500/tcp"][0]["HostPort"]) == launcher.host_ports["8500/tcp"]
        assert launcher.runtime_versions is None  # no tensorflow_model_server in a stand-in
    assert _left_behind(docker_client, tmp_path) == []


# ---- nothing left behind ------------------------------------------------------------
SERVE_TIMEOUT_S = 600


def _serve(artifacts: Path, run_dir: Path, base: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "deploy_compare.cli", "serve", "--target", "torchserve", "--mode", "docker"]
    cmd += ["--base-image", base, "--artifacts", str(artifacts), "--run-dir", str(run_dir)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(proc: subprocess.Popen, text: str) -> str:
    seen = []
    deadline = time.monotonic() + SERVE_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    proc.kill()
    pytest.fail(f"{text!r} never appeared:\n{''.join(seen)}")


def test_serve_removes_its_container_on_sigterm(artifacts, tmp_path, docker_client, torchserve_base):
    """SIGTERM (and SIGHUP) become the same KeyboardInterrupt Ctrl-C raises (stop_signals)."""
    run_dir = tmp_path / "serve"
    proc = _serve(artifacts, run_dir, torchserve_base)
    _wait_for(proc, "ready in")
    assert len(_left_behind(docker_client, run_dir)) == 1
    proc.send_signal(signal.SIGTERM)
    # communicate, not wait: the pipe is drained, so a chatty shutdown cannot block on a full pipe
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), out[-2000:]
    assert _left_behind(docker_client, run_dir) == []


def test_a_crashing_caller_leaves_no_container(artifacts, tmp_path, docker_client, torchserve_base):
    """An exception that escapes with the server up (no `with`): the at-exit stop removes it."""
    run_dir = tmp_path / "crash"
    script = (
        "import sys; from pathlib import Path\n"
        "from deploy_compare.servers import make_launcher\n"
        "from deploy_compare.servers.torchserve.config import TorchServeConfig\n"
        f"l = make_launcher('torchserve', 'docker', manifest_dir=Path({str(artifacts)!r}), run_dir=Path({str(run_dir)!r}),"
        f" config=TorchServeConfig(base_image={torchserve_base!r}))\n"
        "l.start(); print('up', flush=True)\n"
        "raise RuntimeError('pipeline crashed')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=SERVE_TIMEOUT_S)
    assert "up" in done.stdout and "pipeline crashed" in done.stderr, done.stderr
    assert done.returncode == 1
    assert _left_behind(docker_client, run_dir) == []


def test_clean_removes_the_toolkits_containers_and_images_only(docker_client, torchserve_base, capsys):
    import uuid

    from deploy_compare.cli import main

    tag = f"deploy-compare/clean-test:{uuid.uuid4().hex[:8]}"
    import io

    dockerfile = io.BytesIO(f"FROM {torchserve_base}\nLABEL {LABEL}=clean-test\n".encode())
    docker_client.images.build(fileobj=dockerfile, tag=tag, rm=True, pull=False)
    container = docker_client.containers.create(tag, command=["true"], labels={LABEL: "clean-test"})
    # a container WITHOUT the label, which clean must not touch (images pass labels on to
    # containers, so it comes from an unlabelled one-file image)
    other_image = f"deploy-compare-test/unlabelled:{uuid.uuid4().hex[:8]}"
    docker_client.api.import_image_from_data(
        _one_file_tar(), repository=other_image.split(":")[0], tag=other_image.split(":")[1]
    )
    other = docker_client.containers.create(other_image, command=["/nothing"])
    try:
        assert main(["clean", "--keep-base"]) == 0
        out = capsys.readouterr().out
        assert f"removed container {container.name}" in out and f"removed image {tag}" in out
        names = {c.name for c in docker_client.containers.list(all=True)}
        assert container.name not in names and other.name in names
        docker_client.images.get(torchserve_base)  # kept with --keep-base
        import docker.errors

        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(tag)
    finally:
        other.remove(force=True)
        docker_client.images.remove(other_image, force=True)


def _one_file_tar() -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return buffer.getvalue()


def _refresh_sha(manifest_dir: Path, name: str) -> None:
    import json

    from deploy_compare.fileio import sha256_of

    path = manifest_dir / "manifest.json"
    data = json.loads(path.read_text())
    entry = data["artifacts"][name]
    entry["sha256"] = sha256_of(manifest_dir / entry["path"])
    entry["size_bytes"] = (manifest_dir / entry["path"]).stat().st_size
    path.write_text(json.dumps(data, indent=2))
