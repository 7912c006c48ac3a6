"""Configs, the TorchServe config.properties, TF Serving's native command and status parsing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from deploy_compare.errors import ConfigError
from deploy_compare.servers import make_launcher
from deploy_compare.servers.config import safe_model_name
from deploy_compare.servers.model_spec import served_model
from deploy_compare.servers.registry import get as get_stack
from deploy_compare.servers.tfserving.config import TFServingConfig
from deploy_compare.servers.tfserving.native import NativeTFServing, model_status_problem
from deploy_compare.servers.torchserve.archive import TorchServeAddresses, config_properties
from deploy_compare.servers.torchserve.config import TorchServeConfig

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("cls", "field", "value", "message"),
    [
        (TorchServeConfig, "workers", 0, "TorchServeConfig.workers must be an integer >= 1"),
        (TorchServeConfig, "batch_size", 2.5, "TorchServeConfig.batch_size must be an integer >= 1"),
        (TorchServeConfig, "max_batch_delay_ms", -1, "TorchServeConfig.max_batch_delay_ms must be an integer >= 0"),
        (TorchServeConfig, "start_timeout_s", 0, "TorchServeConfig.start_timeout_s must be a number > 0"),
        (TorchServeConfig, "model_name", "a/b", "TorchServeConfig.model_name must be letters"),
        (TFServingConfig, "batching", "yes", "TFServingConfig.batching must be true or false"),
        (TFServingConfig, "num_batch_threads", 0, "TFServingConfig.num_batch_threads must be an integer >= 1"),
    ],
)
def test_config_errors_name_the_field_and_allowed_values(cls, field, value, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        cls(**{field: value})


def test_from_dict_rejects_unknown_fields():
    assert TorchServeConfig.from_dict({"workers": 2}).workers == 2
    with pytest.raises(ConfigError, match="unknown field.*wokers"):
        TorchServeConfig.from_dict({"wokers": 2})


def test_make_launcher_checks_kind_mode_and_config_type(synthetic_manifest, tmp_path):
    with pytest.raises(ConfigError, match="unknown serving stack 'kubeflow'; allowed: torchserve, tfserving"):
        make_launcher("kubeflow", manifest_dir=synthetic_manifest, run_dir=tmp_path)
    with pytest.raises(ConfigError, match="server mode must be one of auto, docker, native"):
        make_launcher("torchserve", "k8s", manifest_dir=synthetic_manifest, run_dir=tmp_path)
    with pytest.raises(ConfigError, match="torchserve needs a TorchServeConfig"):
        make_launcher(
            "torchserve", "native", manifest_dir=synthetic_manifest, run_dir=tmp_path, config=TFServingConfig()
        )


def test_safe_model_name():
    assert safe_model_name("digits_cnn") == "digits_cnn"
    assert safe_model_name("my model/v2") == "my_model_v2"
    assert safe_model_name("///") == "model"


def test_config_properties_keep_auth_on_model_api_off_and_loopback(synthetic_manifest):
    model = served_model("torchserve", synthetic_manifest)
    text = config_properties(
        model,
        TorchServeConfig(workers=2, batch_size=4, max_batch_delay_ms=9),
        "/store",
        TorchServeAddresses.native([1001, 1002, 1003, 1004, 1005]),
    )
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert props["inference_address"] == "http://127.0.0.1:1001"
    assert props["management_address"] == "http://127.0.0.1:1002"
    assert props["grpc_inference_address"] == props["grpc_management_address"] == "127.0.0.1"
    assert props["enable_model_api"] == "false" and props["install_py_dep_per_model"] == "false"
    assert props["enable_metrics_api"] == "true" and props["metrics_mode"] == "prometheus"
    assert not any("token" in k and "disable" in k for k in props)
    assert props["load_models"] == f"{model.model_name}.mar"
    assert '"minWorkers":2,"maxWorkers":2,"batchSize":4,"maxBatchDelay":9' in props["models"]


def test_native_tfserving_command(synthetic_manifest, tmp_path):
    model = served_model("tfserving", synthetic_manifest)
    plain = NativeTFServing(model, tmp_path, TFServingConfig())
    argv = plain.command("/bin/tms", 8123, tmp_path / "models" / model.model_name, tmp_path / "g.sock")
    assert argv[:2] == ["/bin/tms", "--port=0"]  # no 0.0.0.0 gRPC listener
    assert f"--grpc_socket_path={tmp_path / 'g.sock'}" in argv
    assert "--rest_api_port=8123" in argv and f"--model_name={model.model_name}" in argv
    assert not any("batching" in a for a in argv)
    monitoring = next(a.split("=", 1)[1] for a in argv if a.startswith("--monitoring_config_file="))
    assert 'path: "/monitoring/prometheus/metrics"' in open(monitoring).read()  # the server's view reads it
    batched = NativeTFServing(model, tmp_path, TFServingConfig(batching=True, max_batch_size=8))
    argv = batched.command("/bin/tms", 8123, tmp_path, tmp_path / "g.sock")
    assert "--enable_batching=true" in argv
    params_file = next(a.split("=", 1)[1] for a in argv if a.startswith("--batching_parameters_file="))
    assert "max_batch_size { value: 8 }" in open(params_file).read()


def test_native_tfserving_gives_the_endpoint_its_grpc_socket(synthetic_manifest, tmp_path, monkeypatch):
    """The launch half only (/bin/true stands for the binary: nothing serves, nothing is measured):
    the socket passed as --grpc_socket_path is the Endpoint's grpc_target, which the grpc
    encoding's URL and the transports' split_target carry unchanged."""
    from deploy_compare.clients.encodings import encoding_for
    from deploy_compare.clients.grpc_transport import split_target
    from deploy_compare.servers.tfserving import native as tfserving_native
    from deploy_compare.servers.tfserving.encodings import TFS_PREDICT

    monkeypatch.setattr(tfserving_native, "tfserving_executable", lambda: "/bin/true")
    launcher = NativeTFServing(served_model("tfserving", synthetic_manifest), tmp_path, TFServingConfig())
    try:
        launcher._launch()
        argv = json.loads((launcher.work_dir / "command.json").read_text())["argv"]
        socket_path = next(a.split("=", 1)[1] for a in argv if a.startswith("--grpc_socket_path="))
        assert "--port=0" in argv and len(socket_path.encode()) < 108  # sun_path's limit
        ep = launcher._make_endpoint()
        assert ep.grpc_target == f"unix:{socket_path}" and ep.input_name == launcher.model.input_name
        grpc = encoding_for(dataclasses.replace(ep, encoding=get_stack("tfserving").encoding_name("grpc")))
        assert split_target(grpc.url) == (f"unix:{socket_path}", TFS_PREDICT)
    finally:
        launcher._shutdown()
    assert not Path(socket_path).parent.exists()  # the socket's directory is removed on stop


def test_tfserving_model_status_parsing():
    available = {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK"}}]}
    loading = {"model_version_status": [{"version": "1", "state": "LOADING", "status": {"error_code": "OK"}}]}
    failed = {
        "model_version_status": [
            {
                "version": "1",
                "state": "END",
                "status": {"error_code": "UNKNOWN", "error_message": "Op type not registered"},
            }
        ]
    }
    assert model_status_problem(available) == (False, None)
    assert model_status_problem(loading) == (False, "state LOADING")
    assert model_status_problem({}) == (False, "no model_version_status yet")
    fatal, problem = model_status_problem(failed)
    assert fatal and "Op type not registered" in problem
