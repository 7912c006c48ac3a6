"""Docker launchers: build context, image tag and run arguments (unit tests of argument
building with a recording client), plus the Dockerfiles themselves.

These do NOT show that a container serves anything; the real-engine tests are in
test_docker_real.py and skip with the reason where no engine answers. Every test here
holds with and without an engine (a dead DOCKER_HOST stands for "no engine").
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from server_helpers import FakeDockerClient

from deploy_compare.errors import ConfigError, ImageBuildError, ServerError, ServerUnavailable
from deploy_compare.servers import make_launcher
from deploy_compare.servers.docker_base import (
    LABEL,
    default_base_image,
    docker_unavailable_reason,
    dockerfile_path,
)
from deploy_compare.servers.tfserving.config import TFServingConfig
from deploy_compare.servers.tfserving.docker import DockerTFServing
from deploy_compare.servers.torchserve.config import TorchServeConfig
from deploy_compare.servers.torchserve.docker import DockerTorchServe

pytestmark = pytest.mark.unit


@pytest.fixture()
def artifacts(synthetic_manifest) -> Path:
    """The unit tier needs no export: these launchers read the manifest and copy files into a
    build context, never load a model, so the synthetic manifest's placeholders serve."""
    return synthetic_manifest


def _launcher(kind, artifacts, run_dir, client, config=None):
    return make_launcher(kind, "docker", manifest_dir=artifacts, run_dir=run_dir, config=config, docker_client=client)


def _copy_sources(dockerfile: Path, build_args: dict[str, str]) -> list[str]:
    parser = DockerfileParser(fileobj=open(dockerfile, "rb"), build_args=build_args)
    sources = []
    for instr in parser.structure:
        if instr["instruction"] in ("COPY", "ADD"):
            parts = [p for p in instr["value"].split() if not p.startswith("--")]
            sources.extend(parts[:-1])
    return sources


# ---- Dockerfiles ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "image"), [("Dockerfile.torchserve", "pytorch/torchserve"), ("Dockerfile.tfserving", "tensorflow/serving")]
)
def test_dockerfiles_take_the_base_as_an_argument_defaulting_to_the_pinned_official_image(name, image):
    parser = DockerfileParser(fileobj=open(dockerfile_path(name), "rb"))
    froms = [i["value"] for i in parser.structure if i["instruction"] == "FROM"]
    assert froms == ["${BASE_IMAGE}"]
    base = default_base_image(name)
    repo, _, tag = base.partition(":")
    assert repo == image
    assert tag and tag != "latest" and tag[0].isdigit(), f"{name}: base image {base!r} is not pinned"
    # the argument reaches FROM: a mirror's name replaces the default
    mirrored = DockerfileParser(fileobj=open(dockerfile_path(name), "rb"), build_args={"BASE_IMAGE": "mirror/x:1"})
    assert mirrored.baseimage == "mirror/x:1"


REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile.torchserve", "Dockerfile.tfserving", "Dockerfile.triton")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_a_checkout_builds_the_root_dockerfile(name, artifacts, tmp_path):
    """The file at the repository root (the one `docker build -f` takes by hand) is the one
    the launcher copies into its build context."""
    assert dockerfile_path(name) == REPO / name
    kind = name.removeprefix("Dockerfile.")
    if kind != "triton":  # Triton's launcher is covered in tests/servers/test_triton.py
        context = _launcher(kind, artifacts, tmp_path, FakeDockerClient()).assemble_context()
        assert (context / "Dockerfile").read_bytes() == (REPO / name).read_bytes()


def test_the_root_dockerfiles_ship_with_the_package(tmp_path):
    """A wheel (non-editable install) holds a build-time copy of each root Dockerfile, and the
    smoke-load script; an installed package resolves the Dockerfiles to that copy. Built from a
    copy of the tree's tracked files, so the build leaves nothing in the checkout."""
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO / name).is_file() and not name.startswith(("tests/", "bench/", "docker/", ".ci/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("deploy_compare-*.whl")
    installed = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(installed)
    assert "deploy_compare/servers/torchserve/smoke_load.py" in names
    for name in DOCKERFILES:
        assert f"deploy_compare/servers/dockerfiles/{name}" in names, name
        packaged = installed / "deploy_compare/servers/dockerfiles" / name
        assert packaged.read_bytes() == (REPO / name).read_bytes(), name
    resolved = subprocess.run(
        [
            sys.executable,
            "-c",
            "from deploy_compare.servers.docker_base import dockerfile_path as p; print(p('Dockerfile.torchserve'))",
        ],
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(resolved) == installed / "deploy_compare/servers/dockerfiles/Dockerfile.torchserve"


def test_torchserve_dockerfile_runs_non_root_with_token_auth_and_ports():
    parser = DockerfileParser(fileobj=open(dockerfile_path("Dockerfile.torchserve"), "rb"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    users = [v for k, v in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    exposed = {p for k, v in instructions if k == "EXPOSE" for p in v.split()}
    assert {"8080", "8081", "8082"} <= exposed
    assert "cpu" in default_base_image("Dockerfile.torchserve")
    runs = " ".join(v for k, v in instructions if k == "RUN")
    assert "smoke_load.py" in runs and "EXPORTER_TORCH" in runs  # version skew fails the build
    entry = " ".join(v for k, v in instructions if k in ("ENTRYPOINT", "CMD"))
    assert "--foreground" in entry and "--disable-token-auth" not in entry
    assert "--enable-model-api" not in entry


def test_tfserving_dockerfile_sets_model_name_and_model_path():
    parser = DockerfileParser(
        fileobj=open(dockerfile_path("Dockerfile.tfserving"), "rb"), build_args={"MODEL_NAME": "m1"}
    )
    assert parser.envs["MODEL_NAME"] == "m1"
    copies = [i["value"] for i in parser.structure if i["instruction"] == "COPY"]
    assert any(v.split()[-1].rstrip("/") == "/models/${MODEL_NAME}/1" for v in copies), copies
    assert "8501" in " ".join(i["value"] for i in parser.structure if i["instruction"] == "EXPOSE")


@pytest.mark.parametrize("kind", ["torchserve", "tfserving"])
def test_every_file_the_dockerfile_copies_is_produced_by_the_toolkit(kind, artifacts, tmp_path):
    launcher = _launcher(kind, artifacts, tmp_path, FakeDockerClient())
    context = launcher.assemble_context()
    sources = _copy_sources(context / "Dockerfile", launcher.build_args())
    assert sources
    for source in sources:
        assert (context / source).exists(), f"{kind}: COPY {source} is not in the assembled context"
    # and nothing else is shipped
    shipped = {p.name for p in context.iterdir()} - {"Dockerfile"}
    assert shipped == {s.rstrip("/").split("/")[0] for s in sources}


# ---- build context ------------------------------------------------------------------
def test_torchserve_context_holds_the_archive_and_a_container_config(artifacts, tmp_path):
    launcher = _launcher(
        "torchserve",
        artifacts,
        tmp_path,
        FakeDockerClient(),
        TorchServeConfig(workers=3, batch_size=8, max_batch_delay_ms=7),
    )
    context = launcher.assemble_context()
    mar = context / "model-store" / f"{launcher.model.model_name}.mar"
    with zipfile.ZipFile(mar) as archive:
        names = set(archive.namelist())
    assert {"model.pt", "handler.py", "handler_config.json", "MAR-INF/MANIFEST.json"} <= names
    props = dict(
        line.split("=", 1)
        for line in (context / "config.properties").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert props["inference_address"] == "http://0.0.0.0:8080"  # reachable through the published port only
    assert props["model_store"] == "/home/model-server/model-store"
    assert props["enable_model_api"] == "false"
    assert "disable_token_authorization" not in props
    assert '"minWorkers":3' in props["models"] and '"batchSize":8' in props["models"]
    assert '"maxBatchDelay":7' in props["models"]


def test_tfserving_context_holds_the_savedmodel_and_batching_file(artifacts, tmp_path):
    launcher = _launcher(
        "tfserving",
        artifacts,
        tmp_path,
        FakeDockerClient(),
        TFServingConfig(batching=True, max_batch_size=16, batch_timeout_micros=500, num_batch_threads=3),
    )
    context = launcher.assemble_context()
    assert (context / "savedmodel" / "saved_model.pb").is_file()
    params = (context / "batching_parameters.txt").read_text()
    assert "max_batch_size { value: 16 }" in params
    assert "batch_timeout_micros { value: 500 }" in params
    assert "num_batch_threads { value: 3 }" in params


# ---- image tag ----------------------------------------------------------------------
def test_torchserve_image_tag_is_stable_across_runs(artifacts, tmp_path):
    """The .mar is rebuilt every run with new timestamps; the tag must not change with them."""
    import time

    a = _launcher("torchserve", artifacts, tmp_path / "a", FakeDockerClient())
    tag_a = a.make_image_tag(a.assemble_context())
    time.sleep(2.1)  # zip timestamps have 2-second resolution
    b = _launcher("torchserve", artifacts, tmp_path / "b", FakeDockerClient())
    assert b.make_image_tag(b.assemble_context()) == tag_a


def test_image_tag_is_content_addressed(artifacts, tmp_path):
    a = _launcher("tfserving", artifacts, tmp_path / "a", FakeDockerClient())
    b = _launcher("tfserving", artifacts, tmp_path / "b", FakeDockerClient())
    c = _launcher("tfserving", artifacts, tmp_path / "c", FakeDockerClient(), TFServingConfig(max_batch_size=8))
    tag_a = a.make_image_tag(a.assemble_context())
    tag_b = b.make_image_tag(b.assemble_context())
    tag_c = c.make_image_tag(c.assemble_context())
    assert tag_a == tag_b  # same inputs -> same image, rebuilt from cache
    assert tag_a != tag_c  # any file in the context changes the tag
    assert tag_a.startswith(f"deploy-compare/tfserving:{a.model.model_name}-")


# ---- run arguments ------------------------------------------------------------------
def test_run_kwargs_publish_on_loopback_free_ports_with_unique_names(artifacts, tmp_path):
    client = FakeDockerClient()
    one = _launcher("torchserve", artifacts, tmp_path, client)
    two = _launcher("torchserve", artifacts, tmp_path, client)
    assert one.container_name != two.container_name
    assert one.container_name.startswith("deploy-compare-torchserve-")
    assert one.work_dir != two.work_dir  # separate logs
    kwargs = one.run_kwargs("img:tag", {"8080/tcp": 40001, "8081/tcp": 40002})
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 40001), "8081/tcp": ("127.0.0.1", 40002)}
    assert kwargs["detach"] is True and kwargs["init"] is True
    assert kwargs["name"] == one.container_name and kwargs["image"] == "img:tag"
    assert "command" not in kwargs  # the Dockerfile's entrypoint is the command


def test_tfserving_run_kwargs_turn_batching_on_by_arguments(artifacts, tmp_path):
    off = _launcher("tfserving", artifacts, tmp_path, FakeDockerClient(), TFServingConfig(batching=False))
    on = _launcher("tfserving", artifacts, tmp_path, FakeDockerClient(), TFServingConfig(batching=True))
    assert "command" not in off.run_kwargs("t", {"8501/tcp": 1})
    assert on.run_kwargs("t", {"8501/tcp": 1})["command"] == [
        "--enable_batching=true",
        "--batching_parameters_file=/models/batching_parameters.txt",
    ]
    assert on.build_args() == {"MODEL_NAME": on.model.model_name}
    assert on.container_ports == ("8501/tcp", "8500/tcp")  # REST, and gRPC for the grpc encoding


def test_launch_builds_then_runs_with_those_arguments_and_stop_removes(artifacts, tmp_path, monkeypatch):
    client = FakeDockerClient()
    launcher = _launcher("tfserving", artifacts, tmp_path, client)
    # Only the launch half: health needs a real server (test_docker_real.py).
    launcher._launch()
    (build,) = client.build_calls
    assert build["path"] == str(launcher.context_dir) and build["tag"] == launcher.image_tag
    assert build["buildargs"] == {"MODEL_NAME": launcher.model.model_name} and build["rm"] and build["forcerm"]
    (run,) = client.run_calls
    assert run["image"] == launcher.image_tag
    host_port, grpc_port = launcher.host_ports["8501/tcp"], launcher.host_ports["8500/tcp"]
    assert run["ports"] == {"8501/tcp": ("127.0.0.1", host_port), "8500/tcp": ("127.0.0.1", grpc_port)}
    ep = launcher._make_endpoint()  # what the healthy launcher hands the load client
    assert ep.url == f"http://127.0.0.1:{host_port}" and ep.grpc_target == f"127.0.0.1:{grpc_port}"
    assert ep.input_name == launcher.model.input_name  # PredictRequest.inputs is keyed by it
    assert (launcher.work_dir / "build.log").read_text().startswith("Step 1/5")
    launcher.stop()
    assert client.container.calls[-2:] == ["stop", "remove"]
    assert launcher.log_path.read_bytes() == b"server log line\n"  # container log kept in the run dir


def test_image_build_error_is_a_server_error_with_the_build_log_tail(artifacts, tmp_path):
    import docker.errors

    error = docker.errors.BuildError(
        "COPY failed: file not found",
        [
            {"stream": "Step 1/4 : FROM pytorch/torchserve:0.12.0-cpu\n"},
            {"error": "COPY failed: file not found in build context"},
        ],
    )
    client = FakeDockerClient(build_error=error)
    client.present_images.add("pytorch/torchserve:0.12.0-cpu")  # the base is there; a step fails
    launcher = _launcher("torchserve", artifacts, tmp_path, client)
    with pytest.raises(ServerError) as info:
        launcher.start()
    assert "image build of" in str(info.value)
    assert "COPY failed" in info.value.log_tail
    assert client.run_calls == []


def test_container_that_exits_is_a_server_error_and_is_removed(artifacts, tmp_path):
    client = FakeDockerClient(container_status="exited")
    launcher = _launcher("tfserving", artifacts, tmp_path, client)
    with pytest.raises(ServerError) as info:
        launcher.start()
    assert "exited with code 1" in str(info.value)
    assert "server log line" in info.value.log_tail
    assert client.container.calls[-2:] == ["stop", "remove"]


# ---- mode selection -----------------------------------------------------------------
@pytest.fixture()
def no_engine(monkeypatch):
    """'No Docker engine' on any machine: the client is pointed at a port nothing answers."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")


def test_docker_mode_without_an_engine_is_unavailable_with_the_reason(artifacts, tmp_path, no_engine):
    with pytest.raises(ServerUnavailable) as info:
        make_launcher("tfserving", "docker", manifest_dir=artifacts, run_dir=tmp_path)
    assert str(info.value).startswith("TF Serving: no Docker engine answers")


def test_auto_mode_falls_back_to_native_or_skips_with_both_reasons(artifacts, tmp_path, monkeypatch, no_engine):
    from deploy_compare.servers import factory

    torchserve_reason = factory.native_unavailable_reason("torchserve")
    if torchserve_reason is None:
        launcher = make_launcher("torchserve", "auto", manifest_dir=artifacts, run_dir=tmp_path)
        assert launcher.mode == "native"
        assert launcher.mode_note is None  # no engine is not a fallback from a failed build
    monkeypatch.setattr(factory, "native_unavailable_reason", lambda kind: "no tensorflow_model_server on PATH")
    with pytest.raises(ServerUnavailable) as info:
        make_launcher("tfserving", "auto", manifest_dir=artifacts, run_dir=tmp_path)
    assert str(info.value).startswith("TF Serving: no Docker engine and no tensorflow_model_server on PATH")


def _build_error(message: str, log: list[dict]):
    import docker.errors

    return docker.errors.BuildError(message, log)


def test_an_image_that_cannot_be_built_falls_back_to_native_and_says_why(artifacts, tmp_path, monkeypatch):
    from deploy_compare.servers import factory

    monkeypatch.setattr(factory, "native_unavailable_reason", lambda kind: None)
    error = _build_error("pull access denied", [{"error": "lookup registry-1.docker.io: no such host"}])
    client = FakeDockerClient(build_error=error)
    docker_launcher = _launcher("torchserve", artifacts, tmp_path, client, TorchServeConfig(base_image="mirror/ts:1"))
    launcher = factory.built_or_native("torchserve", "auto", docker_launcher, manifest_dir=artifacts, run_dir=tmp_path)
    assert launcher.mode == "native"
    assert launcher.mode_note == "docker: base image mirror/ts:1 not available: pull access denied; ran natively"
    assert client.run_calls == [] and client.closed is False  # an injected client is the caller's


def test_an_image_that_cannot_be_built_without_native_is_unavailable_with_both_reasons(
    artifacts, tmp_path, monkeypatch
):
    from deploy_compare.servers import factory

    monkeypatch.setattr(factory, "native_unavailable_reason", lambda kind: "no tensorflow_model_server on PATH")
    client = FakeDockerClient(build_error=_build_error("no such host", []))
    docker_launcher = _launcher("tfserving", artifacts, tmp_path, client)
    with pytest.raises(ServerUnavailable) as info:
        factory.built_or_native("tfserving", "auto", docker_launcher, manifest_dir=artifacts, run_dir=tmp_path)
    assert str(info.value) == (
        "TF Serving: docker: base image tensorflow/serving:2.19.0 not available: no such host; "
        "native: no tensorflow_model_server on PATH"
    )
    # --server-mode docker: the same build error fails it (no fallback)
    docker_launcher = _launcher("tfserving", artifacts, tmp_path, client)
    with pytest.raises(ImageBuildError, match="no such host"):
        factory.built_or_native("tfserving", "docker", docker_launcher, manifest_dir=artifacts, run_dir=tmp_path)


def test_build_failure_reasons_name_the_cause(artifacts, tmp_path):
    # the base exists: a plain build failure
    client = FakeDockerClient(build_error=_build_error("COPY failed", [{"error": "COPY failed"}]))
    client.present_images.add("pytorch/torchserve:0.12.0-cpu")
    with pytest.raises(ImageBuildError) as info:
        _launcher("torchserve", artifacts, tmp_path, client).start()
    assert info.value.reason.startswith("docker: image build of deploy-compare/torchserve:")
    assert info.value.reason.endswith("failed: COPY failed")
    # the model does not load in the image's runtime: smoke_load.py's own line wins
    smoke = "deploy-compare smoke-load: m.mar does not load in the image's runtime: written by torch 2.13.0+cpu, the image has torch 2.4.0 (RuntimeError: x)"
    client = FakeDockerClient(build_error=_build_error("returned a non-zero code: 1", [{"stream": smoke + "\n"}]))
    with pytest.raises(ImageBuildError) as info:
        _launcher("torchserve", artifacts, tmp_path, client).start()
    assert info.value.reason == "docker: " + smoke.split(": ", 1)[1]


def test_docker_probe_reports_a_dead_engine_quickly(no_engine):
    reason = docker_unavailable_reason(timeout_s=1)
    assert reason is not None and reason.startswith("no Docker engine answers")


def test_docker_launchers_are_the_docker_implementations(artifacts, tmp_path):
    assert isinstance(_launcher("torchserve", artifacts, tmp_path, FakeDockerClient()), DockerTorchServe)
    assert isinstance(_launcher("tfserving", artifacts, tmp_path, FakeDockerClient()), DockerTFServing)


# ---- settings: base image, cores, labels ---------------------------------------------
def test_base_image_setting_becomes_the_build_argument_and_changes_the_tag(artifacts, tmp_path):
    default = _launcher("torchserve", artifacts, tmp_path / "a", FakeDockerClient())
    mirrored = _launcher(
        "torchserve", artifacts, tmp_path / "b", FakeDockerClient(), TorchServeConfig(base_image="mirror.local/ts:0.12")
    )
    assert "BASE_IMAGE" not in default.build_args()  # the Dockerfile's pinned default applies
    assert default.base_image == "pytorch/torchserve:0.12.0-cpu"
    assert mirrored.build_args()["BASE_IMAGE"] == "mirror.local/ts:0.12" == mirrored.base_image
    assert mirrored.build_args()["EXPORTER_TORCH"] == mirrored.model.entry.tools["torch"]
    assert default.make_image_tag(default.assemble_context()) != mirrored.make_image_tag(mirrored.assemble_context())
    with pytest.raises(ConfigError, match="base_image"):
        TFServingConfig(base_image="has space")


def test_base_image_from_toml_and_flags(tmp_path):
    from deploy_compare.cli import build_parser
    from deploy_compare.commands.run import _overrides
    from deploy_compare.deploy.config import load_run_config

    toml = tmp_path / "c.toml"
    toml.write_text('[torchserve]\nbase_image = "mirror.local/ts:1"\n')
    assert load_run_config(toml).section("torchserve")["base_image"] == "mirror.local/ts:1"
    args = build_parser().parse_args(["run", "--tfserving-base-image", "mirror.local/tfs:2"])
    config = load_run_config(toml, overrides=_overrides(args))
    assert config.section("tfserving")["base_image"] == "mirror.local/tfs:2"
    assert build_parser().parse_args(["serve", "--base-image", "m/x:1"]).base_image == "m/x:1"
    # the flags come from the registry: every stack with a Docker launcher whose config takes base_image
    from deploy_compare.servers.registry import base_image_stacks

    assert base_image_stacks() == ("torchserve", "tfserving", "triton")
    args = build_parser().parse_args(["run", "--triton-base-image", "mirror.local/triton:1"])
    assert load_run_config(overrides=_overrides(args)).section("triton")["base_image"] == "mirror.local/triton:1"
    from deploy_compare.commands.serve import _config

    serve = build_parser().parse_args(["serve", "--target", "triton", "--base-image", "m/t:1"])
    assert _config(serve).base_image == "m/t:1"
    with pytest.raises(ConfigError, match="fastapi_onnx has no Docker image"):
        _config(build_parser().parse_args(["serve", "--target", "fastapi_onnx", "--base-image", "m/x:1"]))


def test_cpuset_and_label_reach_the_run_arguments(artifacts, tmp_path):
    launcher = _launcher("torchserve", artifacts, tmp_path, FakeDockerClient())
    assert "cpuset_cpus" not in launcher.run_kwargs("t", {})
    launcher.cpuset = (1, 0)
    kwargs = launcher.run_kwargs("t", {})
    assert kwargs["cpuset_cpus"] == "0,1"
    assert kwargs["labels"][LABEL] == "torchserve"
    assert launcher.build_kwargs(tmp_path, "t")["labels"] == {LABEL: "torchserve"}


def test_clean_command_is_registered():
    from deploy_compare.cli import COMMANDS, build_parser

    assert "clean" in COMMANDS
    assert build_parser().parse_args(["clean", "--keep-base"]).keep_base is True
