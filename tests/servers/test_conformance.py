"""What every serving stack must do, checked on each registered stack's REAL native server.

Parametrized over deploy_compare.servers.registry.stacks(): a stack's folder is enough for
it to be covered. Each stack's server is the session's shared one (native_servers.py):
started on the first test that asks, reused by every other test (the stack-specific
modules too), stopped by test_stop_leaves_nothing_running, which runs last (conftest.py).
The memory-limit test starts its own, which the limit ends before it is healthy.

A stack that cannot run natively here is skipped with its native launcher's reason
("native <label>: ..."); CI accepts only the skips tests/ci_policy.py lists (TF Serving).
"""

from __future__ import annotations

import socket
import time

import httpx
import psutil
import pytest
from encoding_checks import answers, encoding_equals_the_reference
from native_servers import session_config
from server_helpers import alive, eval_batch, processes_mentioning

from deploy_compare.clients import payloads_from_export
from deploy_compare.clients.encodings import encoding_for
from deploy_compare.errors import ServerError, message_line
from deploy_compare.servers import make_launcher
from deploy_compare.servers.registry import get, stacks
from floors import FP32_ATOL

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(600)]

MEMORY_LIMIT_MIB = 40  # far below what any stack's server needs to start (Python + a runtime, or a JVM)
COUNTED_REQUESTS = 8
COUNTERS_DEADLINE_S = 10.0  # a stack may publish its counters a moment after answering


def _kinds() -> list:
    """Every registered stack; one that cannot run natively here is skipped with the reason."""
    params = []
    for name, stack in stacks().items():
        reason = stack.native_reason()
        skip = pytest.mark.skipif(reason is not None, reason=f"native {stack.label}: {reason}")
        params.append(pytest.param(name, marks=skip, id=name))
    return params


KINDS = _kinds()
ENCODINGS = [
    pytest.param(p.values[0], encoding, batch, marks=p.marks, id=f"{p.id}-{encoding}-batch{batch}")
    for p in KINDS
    for encoding in get(p.values[0]).spoken_encodings()
    for batch in (1, 4)
]


def _atol(manifest, kind: str) -> float | None:
    """A float32 artifact must give the reference's logits; a quantized one its classes (None)."""
    return FP32_ATOL if manifest.artifact(get(kind).artifact).variant == "fp32" else None


def _listening_ports(pids: list[int]) -> set[int]:
    ports = set()
    for pid in alive(pids):
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        ports.update(c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN)
    return ports


def _tree(launcher) -> list[int]:
    root = psutil.Process(launcher.root_pid)
    return [root.pid, *(p.pid for p in root.children(recursive=True))]


@pytest.mark.parametrize("kind", KINDS)
def test_start_serves_on_loopback_and_logs_in_the_run_dir(kind, native_servers):
    server = native_servers.get(kind)
    assert server.mode == "native" and server.kind == kind
    assert server.startup_s is not None and server.startup_s > 0
    ep = server.endpoint
    assert ep.url.startswith("http://127.0.0.1:"), ep.url
    assert server.log_path.is_file() and server.log_path.is_relative_to(server.run_dir)
    assert alive([server.root_pid]) == [server.root_pid]
    # credentials never reach a log or a traceback through the Endpoint's repr
    secrets = [v for k, v in ep.request_headers().items() if k.lower() == "authorization"]
    assert all(secret not in repr(ep) for secret in secrets), repr(ep)


@pytest.mark.parametrize("kind", KINDS)
def test_health_answers_ok(kind, native_servers):
    adapter = encoding_for(native_servers.get(kind).endpoint)
    response = httpx.get(adapter.health_url, headers=adapter.headers(), timeout=10.0)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("kind", "encoding", "batch_size"), ENCODINGS)
def test_every_encoding_gives_the_reference_predictions(kind, encoding, batch_size, native_servers, exported):
    """A real request through the load client's encoding and a short closed loop: the reference's
    logits (float artifacts) or classes (quantized), top-1 agreement at least its absolute floor."""
    artifacts, manifest = exported
    endpoint = native_servers.get(kind).endpoint
    sizes = encoding_equals_the_reference(
        endpoint, kind, encoding, artifacts, manifest, _atol(manifest, kind), batch_size
    )
    assert all(size > 0 for size in sizes)


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_shape_is_a_4xx_with_a_message_and_the_server_stays_healthy(kind, native_servers, exported):
    artifacts, manifest = exported
    server = native_servers.get(kind)
    adapter = encoding_for(server.endpoint)  # the stack's first encoding: its own JSON
    x, reference = eval_batch(artifacts, manifest, get(kind).artifact, n=2)
    spec = adapter.build_request(x.reshape(2, -1))  # the samples flattened: a shape no stack accepts
    response = httpx.request(spec.method, spec.url, headers=spec.headers, content=spec.body, timeout=30.0)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert str(response.json().get("error", "")).strip(), response.text
    assert httpx.get(adapter.health_url, headers=adapter.headers(), timeout=10.0).status_code == 200
    good = adapter.build_request(x)
    after = httpx.request(good.method, good.url, headers=good.headers, content=good.body, timeout=30.0)
    got = adapter.parse_response(after.status_code, after.content, 2)
    assert (got.argmax(-1) == reference.argmax(-1)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_the_metrics_source_counts_the_requests_served(kind, native_servers, exported):
    """The stack's declared queue/compute counters move by at least the requests sent; a stack
    that declares none says so."""
    artifacts, manifest = exported
    server = native_servers.get(kind)
    source, note = server.metrics_source()
    if get(kind).metrics is None:
        assert source is None and note, note
        return
    assert source is not None, note
    before = source.counters()
    payloads = payloads_from_export(server.endpoint, artifacts, manifest, artifact=get(kind).artifact, max_payloads=8)
    answers(server.endpoint, payloads, range(COUNTED_REQUESTS))
    deadline = time.monotonic() + COUNTERS_DEADLINE_S
    after = source.counters()
    while after.requests - before.requests < COUNTED_REQUESTS and time.monotonic() < deadline:
        time.sleep(0.25)
        after = source.counters()
    assert after.requests - before.requests >= COUNTED_REQUESTS, (before, after)
    assert after.compute_us > before.compute_us and after.queue_us >= before.queue_us, (before, after)


@pytest.mark.parametrize("kind", KINDS)
def test_a_memory_limit_ends_the_start_with_out_of_memory(kind, artifacts, tmp_path):
    """Natively the launcher's MemoryGuard kills the tree at the limit: a ServerError saying so,
    before the start timeout, nothing left running (the pipeline's FAILED reason: test_server_view)."""
    launcher = make_launcher(kind, "native", manifest_dir=artifacts, run_dir=tmp_path, config=session_config(kind))
    launcher.memory_limit_mib = MEMORY_LIMIT_MIB
    began = time.monotonic()
    with pytest.raises(ServerError) as caught:
        launcher.start()
    reason = message_line(caught.value)
    assert "out of memory" in reason and f"{MEMORY_LIMIT_MIB} MiB" in reason, reason
    assert time.monotonic() - began < launcher.config.start_timeout_s
    assert processes_mentioning(str(launcher.work_dir)) == []


@pytest.mark.parametrize("kind", KINDS)
def test_stop_leaves_nothing_running(kind, native_servers):
    """Runs last (conftest.py): stops the session's server; no process of its tree, no listener
    of its ports, nothing mentioning its work dir is left; its log is kept."""
    server = native_servers.get(kind)
    pids = _tree(server)
    ports = _listening_ports(pids)
    assert ports, "the server listens nowhere?"
    native_servers.stop(kind)
    assert alive(pids) == []
    assert processes_mentioning(str(server.work_dir)) == []
    for port in ports:
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2.0):
            pass
    assert server.log_path.is_file()
    server.stop()  # idempotent
