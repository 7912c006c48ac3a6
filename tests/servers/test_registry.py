"""The stack registry is the one place a serving stack is declared: everything derives from it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy_compare.clients.encodings import registered_encodings
from deploy_compare.clients.endpoint import Endpoint
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.results import schema
from deploy_compare.errors import ConfigError
from deploy_compare.report.names import target_name
from deploy_compare.servers import registry
from deploy_compare.servers.base import Launcher

pytestmark = pytest.mark.unit

EXPECTED = ("torchserve", "tfserving", "triton", "fastapi_onnx", "fastapi_litert")


def test_every_stack_is_registered_once_in_target_order():
    assert registry.names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_a_descriptor_is_complete_and_its_parts_load(name):
    stack = registry.get(name)
    assert stack.label and stack.runs
    assert set(stack.encoding_names) <= set(registered_encodings())
    assert stack.artifact in (
        "torchscript",
        "onnx",
        "savedmodel",
        "tflite_fp32",
        "tflite_fp16",
        "tflite_dynamic_int8",
        "tflite_int8",
    )
    config = stack.default_config()
    assert config.start_timeout_s > 0 and isinstance(config.to_dict(), dict)
    assert "native" in stack.launchers
    for mode in stack.launchers:
        cls = stack.launcher_class(mode)
        assert issubclass(cls, Launcher)
    reason = stack.native_reason()
    assert reason is None or (isinstance(reason, str) and reason)
    if stack.threads_field:
        assert stack.threads_field in config.to_dict()


def test_cli_choices_schema_targets_and_labels_derive_from_the_registry():
    from deploy_compare.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command, dest in (("serve", "target"), ("load", "target")):
        action = next(a for a in sub.choices[command]._actions if a.dest == dest)
        assert tuple(action.choices) == EXPECTED
    assert schema()["properties"]["served"]["items"]["properties"]["target"]["enum"] == list(EXPECTED)
    assert load_run_config().run.targets == list(EXPECTED)
    assert [target_name(n) for n in EXPECTED] == [registry.get(n).label for n in EXPECTED]
    assert registry.get("triton").label_for("native") == "Triton, Python backend + ONNX Runtime"


def test_each_stack_has_its_own_toml_table(tmp_path):
    settings = tmp_path / "s.toml"
    settings.write_text(
        "[run]\ntargets = ['fastapi_onnx', 'fastapi_litert']\n[fastapi_onnx]\nworkers = 2\n[fastapi_litert]\nstart_timeout_s = 30\n"
    )
    config = load_run_config(settings)
    assert config.run.targets == ["fastapi_onnx", "fastapi_litert"] and config.section("fastapi_onnx") == {"workers": 2}
    settings.write_text("[kubeflow]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown key.*kubeflow"):
        load_run_config(settings)
    with pytest.raises(ConfigError, match="unknown serving stack 'kubeflow'"):
        registry.get("kubeflow")


def test_reading_the_registry_and_the_cli_imports_no_framework():
    code = (
        "import sys, deploy_compare.cli as c; from deploy_compare.servers import registry; "
        "[s.default_config() for s in registry.stacks().values()]; c.build_parser(); "
        "print(sorted(m for m in ('torch', 'tensorflow', 'fastapi', 'onnxruntime', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_one_endpoint_type_for_servers_and_clients():
    from deploy_compare import clients, servers

    assert servers.Endpoint is clients.Endpoint is Endpoint
    ep = Endpoint(
        url="http://127.0.0.1:9/",
        encoding="kserve_v2",
        model="m",
        headers={"Authorization": "Bearer k"},
        input_name="x",
    )
    assert ep.base_url == "http://127.0.0.1:9" and ep.model_name == "m"
    assert ep.predict_url == "http://127.0.0.1:9/v2/models/m/infer"
    assert ep.health_url == "http://127.0.0.1:9/v2/models/m/ready"
    assert "Bearer k" not in repr(ep) and ep.to_dict()["headers"]["Authorization"] == "<redacted>"
    assert ep.to_dict(redact=False)["headers"]["Authorization"] == "Bearer k"
    with pytest.raises(ConfigError, match="encoding must be one of"):
        Endpoint(url="http://x", encoding="grpc", model="m")


def test_serve_and_load_take_any_stack_from_the_registry():
    from deploy_compare.cli import build_parser
    from deploy_compare.commands.load import _protocol_and_artifact
    from deploy_compare.commands.serve import _config

    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--target", "triton", "--set", "instances=2", "--set", "preferred_batch_sizes=[4, 8]"]
    )
    config = _config(args)
    assert type(config) is registry.get("triton").config_class
    assert config.instances == 2 and config.preferred_batch_sizes == [4, 8]
    args = parser.parse_args(["serve", "--target", "torchserve", "--workers", "2", "--set", "java_heap_mb=512"])
    assert (_config(args).workers, _config(args).java_heap_mb) == (2, 512)
    # a stack's own flags come from its descriptor: one flag, each stack's meaning, refused elsewhere
    args = parser.parse_args(["serve", "--target", "tfserving", "--batch-size", "8", "--max-batch-delay-ms", "2"])
    config = _config(args)
    assert (config.batching, config.max_batch_size, config.batch_timeout_micros) == (True, 8, 2000)
    assert _config(parser.parse_args(["serve", "--target", "torchserve", "--batch-size", "8"])).batch_size == 8
    with pytest.raises(ConfigError, match="--workers does not apply to tfserving"):
        _config(parser.parse_args(["serve", "--target", "tfserving", "--workers", "2"]))
    assert _config(parser.parse_args(["serve", "--target", "tfserving"])) == registry.get("tfserving").config_class(
        start_timeout_s=180.0
    )
    with pytest.raises(ConfigError, match="unknown key"):
        _config(parser.parse_args(["serve", "--target", "fastapi_onnx", "--set", "nope=1"]))
    args = parser.parse_args(["load", "--target", "fastapi_litert", "--url", "http://127.0.0.1:1"])
    assert _protocol_and_artifact(args) == ("kserve_v2", "tflite_dynamic_int8")
    args = parser.parse_args(["load", "--protocol", "tfserving", "--url", "http://127.0.0.1:1"])
    assert _protocol_and_artifact(args) == ("tfserving", "savedmodel")
    # a stack's other encodings name it too (this was an IndexError)
    args = parser.parse_args(["load", "--protocol", "torchserve_binary", "--url", "http://127.0.0.1:1"])
    assert _protocol_and_artifact(args) == ("torchserve_binary", "torchscript")
