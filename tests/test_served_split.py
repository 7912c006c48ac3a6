"""The split of a served point at concurrency 1: the same artifact's in-process p50 at the
same threads, the server's queue and compute, and the rest (deploy/split.py)."""

from __future__ import annotations

import pytest

from deploy_compare.deploy.results import ServedResult
from deploy_compare.deploy.split import served_split

pytestmark = pytest.mark.unit


def _local(artifact: str, threads: int, p50: float, repetition: int = 1, profile: str = "server") -> dict:
    return {
        "artifact": artifact,
        "profile": profile,
        "threads": threads,
        "device": "local",
        "status": "OK",
        "p50_ms": p50,
        "mean_ms": p50 + 0.1,
        "throughput_samples_per_s": {"8": 8000.0 / (p50 * 4)},
        "repetition": repetition,
    }


def _point(p50: float, queue: float, compute: float, concurrency: int = 1, repetition: int = 1) -> dict:
    return {
        "concurrency": concurrency,
        "p50_ms": p50,
        "mean_ms": p50 + 0.5,
        "repetition": repetition,
        "server": {"split": {"queue_ms": queue, "compute_ms": compute}},
    }


def _served(**kw) -> ServedResult:
    return ServedResult(
        target="torchserve",
        status="OK",
        artifact="onnx",
        server_config={"torch_threads": 1},
        server_cores=[1],
        sweep=[_point(3.0, 0.2, 1.5), _point(4.0, 0.2, 1.7, repetition=2), _point(9.0, 5.0, 2.0, concurrency=4)],
        **kw,
    )


def test_the_split_takes_the_same_artifact_at_the_same_threads_and_names_the_rest():
    local = [
        _local("onnx", 1, 1.0),
        _local("onnx", 1, 1.2, repetition=2),
        _local("onnx", 2, 0.5),  # other threads: not this server's
        _local("torchscript", 1, 9.0),  # another artifact
        _local("onnx", 1, 0.1, profile="edge"),  # another profile
    ]
    split = served_split(_served(), local)
    assert split is not None
    assert (split.artifact, split.threads, split.batch_size) == ("onnx", 1, 1)
    assert split.runtime_ms == pytest.approx(1.1)
    assert split.client_p50_ms == pytest.approx(3.5)  # concurrency 1 only, median over the repetitions
    assert split.queue_ms == pytest.approx(0.2) and split.compute_ms == pytest.approx(1.6)
    # of means: compute - the in-process mean; the client mean - queue - compute
    assert split.runtime_mean_ms == pytest.approx(1.2) and split.handler_ms == pytest.approx(0.4)
    assert split.client_mean_ms == pytest.approx(4.0) and split.stack_ms == pytest.approx(4.0 - 0.2 - 1.6)
    assert split.added_ms == pytest.approx(2.4) and split.added_range_ms == pytest.approx((1.9, 2.9))
    assert split.repetitions == 2


def test_a_larger_batch_uses_the_in_process_batch_latency():
    split = served_split(_served(), [_local("onnx", 1, 1.0)], batch_size=8)
    assert split is not None and split.runtime_ms == pytest.approx(4.0)  # 8 samples / 2000 samples/s


def test_no_split_without_an_in_process_row_at_the_server_threads():
    assert served_split(_served(), [_local("onnx", 2, 0.5)]) is None
    assert served_split(ServedResult(target="torchserve", status="OK", artifact="onnx"), []) is None
