"""A REAL native TorchServe (Java 17 + torchserve 0.12) serving the exported TorchScript model:
what only TorchServe has (its handler's batching and messages, its key, its frontend's
listeners, its launcher's faults).

Start, health, predictions in every encoding, a wrong shape, metrics, the memory limit and
stop are the conformance suite's (test_conformance.py). The request tests here use the
session's shared server (native_servers.py, batch_size 4); the lifecycle and fault tests
start their own (each start costs a few seconds of JVM + worker start-up).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import shutil
import socket
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
from server_helpers import alive, processes_mentioning, rewrite_sha

from deploy_compare.errors import ServerError
from deploy_compare.evaldata import EvalData
from deploy_compare.servers import make_launcher
from deploy_compare.servers.model_spec import served_model
from deploy_compare.servers.torchserve.config import TorchServeConfig
from deploy_compare.servers.torchserve.handler import BATCH_HEADER
from deploy_compare.servers.torchserve.native import NativeTorchServe, native_unavailable_reason

pytestmark = [
    pytest.mark.torchserve,
    pytest.mark.skipif(
        native_unavailable_reason() is not None, reason=f"native TorchServe: {native_unavailable_reason()}"
    ),
    pytest.mark.timeout(300),
]


@pytest.fixture()
def server(native_servers):
    return native_servers.get("torchserve")


@pytest.fixture(scope="module")
def eval_arrays(artifacts):
    data = EvalData.load(artifacts)
    return data.x, data.reference


def _post(endpoint, instances, headers=None, **kwargs):
    return httpx.post(
        endpoint.predict_url,
        json={"instances": instances},
        headers=endpoint.headers if headers is None else headers,
        timeout=30.0,
        **kwargs,
    )


def test_the_java_frontend_serves_with_a_key_and_logs_its_start(server):
    ep = server.endpoint
    assert isinstance(server, NativeTorchServe) and ep.encoding == "torchserve"
    assert ep.headers["Authorization"].startswith("Bearer ") and len(ep.headers["Authorization"]) > len("Bearer ")
    assert "Model server started" in server.log_path.read_text(errors="replace")
    java = psutil.Process(server.pid)
    assert "org.pytorch.serve.ModelServer" in " ".join(java.cmdline())
    ping = httpx.get(ep.health_url, headers=ep.headers, timeout=5.0)
    assert ping.json()["status"] == "Healthy"


def test_concurrent_requests_are_batched_and_split_back_per_request(server, eval_arrays):
    """Several requests of different sizes in flight at once: with batch_size=4 and a 20 ms
    delay the frontend merges them into one handler call; each answer must hold exactly
    its own rows."""
    x, reference = eval_arrays
    slices = [(i * 5, i * 5 + 1 + i % 3) for i in range(12)]  # 1..3 instances each

    def call(bounds):
        lo, hi = bounds
        return bounds, _post(server.endpoint, x[lo:hi].tolist())

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, slices))
    batch_sizes = []
    for (lo, hi), response in results:
        assert response.status_code == 200, response.text
        got = np.asarray(response.json()["predictions"], dtype=np.float32)
        np.testing.assert_allclose(got, reference[lo:hi], atol=1e-4)
        batch_sizes.append(int(response.headers[BATCH_HEADER]))
    assert all(1 <= b <= 4 for b in batch_sizes), batch_sizes
    assert max(batch_sizes) > 1, f"no request was ever batched with another: {batch_sizes}"


def test_request_without_or_with_a_wrong_key_is_refused(server, eval_arrays):
    x, _ = eval_arrays
    no_key = _post(server.endpoint, x[:1].tolist(), headers={})
    wrong_key = _post(server.endpoint, x[:1].tolist(), headers={"Authorization": "Bearer not-the-key"})
    for response in (no_key, wrong_key):
        assert response.status_code in (400, 401, 403), response.text
        assert response.json()["type"] == "InvalidKeyException"
        assert "predictions" not in response.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "not valid JSON"),
        (json.dumps({"inputs": [1]}).encode(), '{"instances": [...]}'),
        (json.dumps({"instances": []}).encode(), "non-empty list"),
        (json.dumps({"instances": [[1.0, 2.0]]}).encode(), "shape [1, 8, 8]"),
        (json.dumps({"instances": [[[[1.0]], [[1.0, 2.0]]]]}).encode(), "rectangular"),
    ],
)
def test_malformed_body_gets_400_with_a_clear_message(server, body, expected):
    response = httpx.post(
        server.endpoint.predict_url,
        content=body,
        headers={**server.endpoint.headers, "Content-Type": "application/json"},
        timeout=30.0,
    )
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]


def test_model_api_is_off_and_every_listener_is_loopback(server):
    key = json.loads((server.work_dir / "key_file.json").read_text())["management"]["key"]
    props = (server.work_dir / "config.properties").read_text()
    mgmt_url = next(line.split("=", 1)[1] for line in props.splitlines() if line.startswith("management_address="))
    register = httpx.post(
        f"{mgmt_url}/models", params={"url": "other.mar"}, headers={"Authorization": f"Bearer {key}"}, timeout=10.0
    )
    assert register.status_code == 405, register.text  # model API disabled, even with the key
    listening = [
        c.laddr for c in psutil.Process(server.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the Java frontend listens nowhere?"
    # Java reports IPv4 loopback as ::ffff:127.0.0.1
    assert all((ipaddress.ip_address(a.ip).ipv4_mapped or ipaddress.ip_address(a.ip)).is_loopback for a in listening), (
        listening
    )
    # inference, management, gRPC x2, and the metrics API (on by default: the server's view reads it)
    assert len(listening) == 5, listening


def test_stop_ends_the_whole_process_tree_and_removes_the_key(artifacts, tmp_path):
    launcher = make_launcher(
        "torchserve",
        "native",
        manifest_dir=artifacts,
        run_dir=tmp_path,
        config=TorchServeConfig(workers=2, torch_threads=1),
    )
    with launcher:
        tree = launcher.process_tree()
        names = [p.name() for p in tree]
        assert "java" in names and sum("python" in n for n in names) >= 2, names  # wrapper's workers
        pids = [p.pid for p in tree]
        assert launcher.key_file.is_file()
    assert alive(pids) == []
    assert processes_mentioning(str(launcher.work_dir)) == []
    assert not launcher.key_file.exists()
    assert launcher.log_path.is_file()  # the log is kept
    launcher.stop()  # idempotent


def test_relative_run_and_artifact_dirs_work(artifacts, tmp_path, monkeypatch):
    # `make deploy-compare` passes runs/<id> relative to the repo; TorchServe runs with its
    # own working directory, so every path it gets must be absolute (a real bug, once).
    shutil.copytree(artifacts, tmp_path / "artifacts")
    monkeypatch.chdir(tmp_path)
    launcher = make_launcher(
        "torchserve",
        "native",
        manifest_dir=Path("artifacts"),
        run_dir=Path("runs/r1"),
        config=TorchServeConfig(torch_threads=1),
    )
    with launcher:
        assert launcher.log_path.is_absolute() and launcher.log_path.is_file()
    assert (tmp_path / "runs" / "r1").is_dir()


def test_ctrl_c_while_waiting_for_health_still_ends_everything(artifacts, tmp_path, monkeypatch):
    launcher = make_launcher("torchserve", "native", manifest_dir=artifacts, run_dir=tmp_path)
    seen: list[int] = []

    def interrupted(self):
        seen.extend(p.pid for p in self.process_tree())
        if len(seen) >= 1 and any(p.name() == "java" for p in self.process_tree()):
            raise KeyboardInterrupt
        return "waiting"

    monkeypatch.setattr(NativeTorchServe, "_check_health", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with launcher:
            pass  # pragma: no cover - never reached
    assert seen
    assert alive(seen) == []
    assert processes_mentioning(str(launcher.work_dir)) == []


def test_broken_archive_fails_fast_with_the_log_tail(manifest_copy, tmp_path):
    model_file = manifest_copy / "model.pt"
    model_file.write_bytes(model_file.read_bytes()[:2000])  # truncated TorchScript zip
    rewrite_sha(manifest_copy, "torchscript")  # the manifest now vouches for the bad file
    launcher = make_launcher(
        "torchserve",
        "native",
        manifest_dir=manifest_copy,
        run_dir=tmp_path,
        config=TorchServeConfig(start_timeout_s=120),
    )
    with pytest.raises(ServerError) as info:
        launcher.start()
    assert "Failed to load model" in str(info.value)
    assert "PytorchStreamReader" in info.value.log_tail  # torch's own reason, from the server log
    assert "last lines of the server log" in str(info.value)
    assert processes_mentioning(str(launcher.work_dir)) == []


def test_port_taken_fails_with_the_bind_error(artifacts, tmp_path, monkeypatch):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    import deploy_compare.servers.torchserve.native as native

    real_free_ports = native.free_ports
    monkeypatch.setattr(native, "free_ports", lambda n: [taken, *real_free_ports(n - 1)])
    try:
        launcher = make_launcher("torchserve", "native", manifest_dir=artifacts, run_dir=tmp_path)
        with pytest.raises(ServerError) as info:
            launcher.start()
    finally:
        blocker.close()
    assert "Failed to bind" in str(info.value) or "Address already in use" in str(info.value)
    assert str(taken) in info.value.log_tail
    assert processes_mentioning(str(launcher.work_dir)) == []


def test_java_missing_is_a_typed_error_with_the_log_tail(artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk-here"))
    # make_launcher would report this as ServerUnavailable (SKIPPED); a launcher built
    # directly must fail at start with the wrapper's own message.
    launcher = NativeTorchServe(served_model("torchserve", artifacts), tmp_path, TorchServeConfig(start_timeout_s=60))
    with pytest.raises(ServerError) as info:
        launcher.start()
    assert "java not found" in info.value.log_tail


def test_health_deadline_is_enforced_and_cleans_up(artifacts, tmp_path):
    launcher = make_launcher(
        "torchserve", "native", manifest_dir=artifacts, run_dir=tmp_path, config=TorchServeConfig(start_timeout_s=0.5)
    )
    with pytest.raises(ServerError) as info:
        launcher.start()
    assert "did not become healthy within 0.5 s" in str(info.value)
    assert "last check:" in str(info.value)
    assert processes_mentioning(str(launcher.work_dir)) == []


def test_a_binary_request_is_the_raw_tensor_bytes(server, exported):
    """REST binary carries one float32 1x8x8 sample as its 256 bytes, nothing else (the
    predictions in every encoding: test_conformance.py)."""
    from encoding_checks import encoded

    from deploy_compare.clients import payloads_from_export

    artifacts, manifest = exported
    ep = encoded(server.endpoint, "torchserve", "binary")
    payloads = payloads_from_export(ep, artifacts, manifest, artifact="torchscript", max_payloads=4)
    assert payloads.body_bytes == 8 * 8 * 4


def test_grpc_errors_are_counted_by_status(server, exported):
    import encoding_checks

    artifacts, manifest = exported
    encoding_checks.grpc_errors_are_counted_by_status(
        server.endpoint, "torchserve", artifacts, manifest, denied="PERMISSION_DENIED"
    )


def test_a_binary_body_of_partial_samples_is_a_400(server):
    ep = server.endpoint
    response = httpx.post(
        ep.predict_url,
        content=b"\0" * 100,
        headers={**ep.headers, "Content-Type": "application/octet-stream"},
        timeout=30.0,
    )
    assert response.status_code == 400 and "whole samples" in response.json()["error"]
