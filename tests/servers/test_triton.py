"""A REAL native Triton Inference Server (tritonserver from nvidia-pytriton in .venv-triton):
Python backend running ONNX Runtime on the exported ONNX file, KServe v2 over REST: what only
Triton has (its repository and config.pbtxt, its instances as stub processes, its answers to
bad input and keys, its Docker image).

Start, health, predictions in every encoding, a wrong shape, metrics, the memory limit and
stop are the conformance suite's (test_conformance.py); the native tests here use the
session's shared server (native_servers.py, two instances)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import psutil
import pytest
import v2_checks
from server_helpers import alive

import deploy_compare.servers.triton as triton_package
from deploy_compare.errors import ServerError, ServerUnavailable
from deploy_compare.manifest import load_manifest
from deploy_compare.servers import make_launcher
from deploy_compare.servers.docker_base import default_base_image, dockerfile_path
from deploy_compare.servers.triton.config import TritonConfig
from deploy_compare.servers.triton.docker import image_unavailable_reason
from deploy_compare.servers.triton.native import RESTRICTED_APIS, native_unavailable_reason

NATIVE = pytest.mark.skipif(
    native_unavailable_reason() is not None, reason=f"native Triton: {native_unavailable_reason()}"
)


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@pytest.fixture()
def server(native_servers):
    return native_servers.get("triton")


@pytest.mark.triton
@NATIVE
def test_grpc_errors_are_counted_by_status(server, exported):
    """Triton answers a restricted gRPC protocol without its key with UNAVAILABLE."""
    import encoding_checks

    artifacts, manifest = exported
    encoding_checks.grpc_errors_are_counted_by_status(
        server.endpoint, "triton", artifacts, manifest, denied="UNAVAILABLE"
    )


@pytest.mark.unit
def test_the_dockerfile_builds_from_the_pinned_image_by_default():
    text = dockerfile_path("Dockerfile.triton").read_text()
    pinned = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert pinned == default_base_image("Dockerfile.triton") == "nvcr.io/nvidia/tritonserver:24.10-py3"
    assert "FROM ${BASE_IMAGE}" in text
    # the pin is written once: the Dockerfile's ARG (no copy in the Python code)
    source = "".join(p.read_text() for p in Path(triton_package.__file__).parent.glob("*.py"))
    assert pinned not in source


@pytest.mark.unit
def test_config_pbtxt_carries_batching_instances_and_the_environment(synthetic_manifest, tmp_path):
    artifacts = synthetic_manifest  # the unit tier needs no export: these never load the model
    from deploy_compare.servers.model_spec import served_model
    from deploy_compare.servers.triton.repository import onnxruntime_repository, python_backend_repository

    model = served_model("triton", artifacts)
    config = TritonConfig(
        instances=3, max_batch_size=16, max_queue_delay_us=500, preferred_batch_sizes=[4, 8], threads=2
    )
    python_backend_repository(tmp_path / "py", model, config, tmp_path / "env")
    text = (tmp_path / "py" / model.model_name / "config.pbtxt").read_text()
    assert 'backend: "python"' in text and "max_batch_size: 16" in text
    assert "count: 3 kind: KIND_CPU" in text
    assert "preferred_batch_size: [ 4, 8 ]" in text and "max_queue_delay_microseconds: 500" in text
    assert f'string_value: "{tmp_path / "env"}"' in text and 'key: "ort_threads" value: { string_value: "2" }' in text
    assert (tmp_path / "py" / model.model_name / "1" / "model.py").is_file()
    onnxruntime_repository(tmp_path / "ort", model, TritonConfig(dynamic_batching=False))
    text = (tmp_path / "ort" / model.model_name / "config.pbtxt").read_text()
    assert 'backend: "onnxruntime"' in text and "dynamic_batching" not in text
    assert (tmp_path / "ort" / model.model_name / "1" / "model.onnx").read_bytes() == model.artifact_path.read_bytes()


@pytest.mark.unit
def test_docker_mode_says_why_when_the_image_is_not_here_and_auto_runs_natively(synthetic_manifest, tmp_path):
    artifacts = synthetic_manifest  # the unit tier needs no export: these never load the model
    reason = image_unavailable_reason()
    if reason is None:
        pytest.skip(f"{default_base_image('Dockerfile.triton')} is on this machine")
    with pytest.raises(ServerUnavailable, match="Triton: .*(not on this machine|no Docker engine)"):
        make_launcher("triton", "docker", manifest_dir=artifacts, run_dir=tmp_path)
    if native_unavailable_reason() is None:
        assert make_launcher("triton", "auto", manifest_dir=artifacts, run_dir=tmp_path).mode == "native"


@pytest.mark.triton
@NATIVE
class TestRealTriton:
    def test_bad_input_gets_a_4xx_with_a_message(self, server, exported):
        artifacts, manifest = exported
        # Triton 2.51 answers a body it cannot parse with a 500 and the reason ("failed to
        # parse the request JSON buffer", "Unable to parse 'inputs'"); shape, datatype, name
        # and model errors are 400s.
        statuses = v2_checks.bad_input_is_a_4xx_with_a_message(
            server.endpoint, artifacts, manifest, "onnx", known_5xx=("malformed_body", "not_v2")
        )
        assert statuses["malformed_body"] == statuses["not_v2"] == 500

    def test_every_api_needs_the_bearer_token(self, server):
        ep = server.endpoint
        for url in (f"{ep.url}/v2/health/ready", f"{ep.url}/v2/models/{ep.model}/ready", ep.predict_url):
            assert httpx.get(url, timeout=10).status_code in (401, 403)
            assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code in (401, 403)
        assert httpx.get(f"{ep.url}/v2/models/{ep.model}/ready", headers=ep.headers, timeout=10).status_code == 200

    def test_instances_are_backend_processes(self, server):
        stubs = [p for p in _tree(server.pid) if "triton_python_backend_stub" in " ".join(p.cmdline())]
        assert len(stubs) == 2  # instances=2: one stub process each

    def test_a_model_that_cannot_load_is_a_server_error_with_the_log_tail(self, artifacts, tmp_path):
        copy = tmp_path / "artifacts"
        shutil.copytree(artifacts, copy, ignore=shutil.ignore_patterns("savedmodel", "*.pt", "*.tflite"))
        launcher = make_launcher(
            "triton", "native", manifest_dir=copy, run_dir=tmp_path / "run", config=TritonConfig(start_timeout_s=60)
        )
        (copy / load_manifest(copy).artifact("onnx").path).write_bytes(b"not an onnx file")
        with pytest.raises(ServerError) as info:
            launcher.start()
        assert "Triton" in str(info.value) and info.value.log_tail
        assert alive([launcher.pid]) == []


@pytest.mark.unit
def test_the_docker_build_context_has_what_dockerfile_triton_copies(synthetic_manifest, tmp_path):
    artifacts = synthetic_manifest  # the unit tier needs no export: these never load the model
    from server_helpers import FakeDockerClient

    from deploy_compare.servers.model_spec import served_model
    from deploy_compare.servers.triton.docker import DockerTriton

    model = served_model("triton", artifacts)
    launcher = DockerTriton(model, tmp_path, TritonConfig(base_image="example/triton:1"), client=FakeDockerClient())
    context = launcher.assemble_context()
    assert (context / "Dockerfile").read_text() == dockerfile_path("Dockerfile.triton").read_text()
    assert (context / "models" / model.model_name / "config.pbtxt").is_file()
    assert (context / "models" / model.model_name / "1" / "model.onnx").is_file()
    assert launcher.build_args() == {"BASE_IMAGE": "example/triton:1"}
    assert any(a.startswith("--http-restricted-api=") for a in launcher.command() or [])


@pytest.mark.unit
def test_docker_triton_publishes_grpc_on_loopback_behind_the_key(synthetic_manifest, tmp_path):
    """Argument building only (a recording client): gRPC on, its port 8001 published on
    127.0.0.1 like HTTP and metrics, the key required on every gRPC protocol, and the
    Endpoint's grpc_target/metadata pointing there (the real container: TestDockerTriton)."""
    from server_helpers import FakeDockerClient

    from deploy_compare.servers.model_spec import served_model
    from deploy_compare.servers.triton.docker import DockerTriton

    model = served_model("triton", synthetic_manifest)
    launcher = DockerTriton(model, tmp_path, TritonConfig(base_image="example/triton:1"), client=FakeDockerClient())
    assert launcher.container_ports == ("8000/tcp", "8001/tcp", "8002/tcp")
    command = launcher.command() or []
    assert "--allow-grpc=true" in command and "--allow-grpc=false" not in command
    token = launcher._token
    assert f"--grpc-restricted-protocol={RESTRICTED_APIS}:authorization=Bearer {token}" in command
    launcher.host_ports = {"8000/tcp": 18000, "8001/tcp": 18001, "8002/tcp": 18002}
    ports = launcher.run_kwargs("img:tag", launcher.host_ports)["ports"]
    assert ports == {p: ("127.0.0.1", h) for p, h in launcher.host_ports.items()}
    ep = launcher._make_endpoint()
    assert ep.grpc_target == "127.0.0.1:18001" and ep.input_name == model.input_name
    assert ep.grpc_metadata() == {triton_package.GRPC_KEY_METADATA: f"Bearer {token}"}
    assert "EXPOSE 8000 8001 8002" in dockerfile_path("Dockerfile.triton").read_text()


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_docker_triton_every_encoding_gives_the_reference_predictions(exported, tmp_path):
    """The real container (the official image's onnxruntime backend): v2 JSON, binary and
    gRPC on the published 8001 equal the reference; a wrong gRPC key is counted by status.
    Skipped with the reason where the base image is not on the machine (no registry here)."""
    import encoding_checks

    reason = image_unavailable_reason()
    if reason is not None:
        pytest.skip(f"Docker Triton: {reason}")
    artifacts, manifest = exported
    launcher = make_launcher(
        "triton", "docker", manifest_dir=artifacts, run_dir=tmp_path, config=TritonConfig(start_timeout_s=300)
    )
    with launcher:
        ep = launcher.endpoint
        assert ep.grpc_target == f"127.0.0.1:{launcher.host_ports['8001/tcp']}"
        encoding_checks.predictions_equal_the_reference(ep, "triton", artifacts, manifest, 1e-4)
        encoding_checks.grpc_errors_are_counted_by_status(ep, "triton", artifacts, manifest, denied="UNAVAILABLE")


@pytest.mark.triton
@NATIVE
def test_the_load_command_speaks_grpc_to_triton(server, exported, tmp_path):
    """`load --encoding grpc`: the key goes where Triton's gRPC API reads it (the descriptor's
    grpc_key_metadata); the JSON results say which encoding and how many bytes."""
    import json

    from deploy_compare.cli import main

    artifacts, _ = exported
    ep = server.endpoint
    token = ep.headers["Authorization"].removeprefix("Bearer ")
    out = tmp_path / "load.json"
    argv = ["--quiet", "load", "--target", "triton", "--encoding", "grpc", "--url", ep.url]
    argv += ["--grpc-target", ep.grpc_target, "--token", token, "--artifacts", str(artifacts)]
    argv += ["--concurrency", "2", "--duration", "0.5", "--warmup", "0", "--min-requests", "10", "--json", str(out)]
    assert main(argv) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["encoding"] == "grpc" and result["protocol"] == "kserve_v2_grpc"
    assert sum(result["errors"].values()) == 0 and result["top1_agreement"] == 1.0
    assert result["request_bytes"] > 256 and result["response_bytes"] > 40  # 1x1x8x8 float32 in, 10 logits out
