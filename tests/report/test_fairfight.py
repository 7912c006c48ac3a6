"""The fair fight in the report: the fastest runtime and the stack with the least overhead
named apart, the best pair under the SLO, the stack x runtime table, and the maintenance notes.
Synthetic runs: splits computed by deploy/split.py from the points built here."""

from __future__ import annotations

import pytest

from deploy_compare.deploy.results import ServedResult
from deploy_compare.deploy.split import served_split
from deploy_compare.report.fairfight import fair_fight_section, slo_matrix
from deploy_compare.report.verdicts import TIED, all_verdicts

pytestmark = pytest.mark.unit


def _local(artifact: str, p50: float, threads: int = 1) -> dict:
    return {
        "artifact": artifact,
        "profile": "server",
        "threads": threads,
        "device": "local",
        "status": "OK",
        "p50_ms": p50,
        "p99_ms": p50 * 1.5,
        "runtime": artifact,
        "repetition": 1,
    }


LOCAL = [_local("onnx", 0.6), _local("torchscript", 1.9), _local("aoti", 1.95), _local("onnx", 0.4, threads=2)]


def _target(make_load_result, target: str, artifact: str, p50s: list[float], rate: float | None) -> ServedResult:
    sweep = [{**make_load_result(p50, concurrency=1).to_dict(), "repetition": rep} for rep, p50 in enumerate(p50s, 1)]
    s = ServedResult(
        target=target,
        status="OK",
        mode="native",
        artifact=artifact,
        sweep=sweep,
        server_config={"torch_threads": 1, "threads": 1},
        server_cores=[0],
        slo=None
        if rate is None
        else {"max_rate_rps": rate, "lowest_failing_rate_rps": rate * 1.1, "p99_bound_ms": 50.0},
    )
    split = served_split(s, LOCAL)
    s.split = split.to_dict() if split is not None else None
    return s


@pytest.fixture
def run(make_results, make_load_result):
    served = [
        _target(make_load_result, "torchserve", "torchscript", [6.0, 6.4], 90.0),
        _target(make_load_result, "torchserve", "onnx", [3.6, 3.9], 250.0),
        _target(make_load_result, "triton", "onnx", [1.6, 1.8], 430.0),
        _target(make_load_result, "fastapi_onnx", "onnx", [2.4, 2.6], 300.0),
    ]
    return make_results(served=served, local=LOCAL)


def test_the_runtime_and_the_stack_are_named_apart_then_the_best_pair(run):
    verdicts = {v.key: v for v in all_verdicts(run)}
    keys = [v.key for v in all_verdicts(run)]
    assert keys[:3] == ["runtime", "stack_overhead", "throughput"]
    assert verdicts["runtime"].winner == "onnx"  # 0.6 ms at one thread, the stacks' threads
    assert "1 thread" in verdicts["runtime"].question
    overhead = verdicts["stack_overhead"]
    assert overhead.winner == "triton" and "serving onnx" in overhead.answer
    # served p50 - in-process p50, median (min-max) over the repetitions: 1.6 - 0.6 .. 1.8 - 0.6
    assert "+1.10 (1.00-1.20) ms" in overhead.answer
    assert verdicts["throughput"].winner == "triton"
    assert verdicts["throughput"].question == "Best stack and runtime pair within the p99 SLO"


def test_overlapping_overheads_are_a_tie(make_results, make_load_result):
    served = [
        _target(make_load_result, "triton", "onnx", [1.6, 2.5], 400.0),
        _target(make_load_result, "fastapi_onnx", "onnx", [2.0, 2.4], 300.0),
    ]
    verdict = next(v for v in all_verdicts(make_results(served=served, local=LOCAL)) if v.key == "stack_overhead")
    assert verdict.winner is None and TIED in verdict.answer and set(verdict.tied) == {"triton", "fastapi_onnx"}


def test_maintenance_notes_stand_beside_a_choice_that_carries_the_risk(run, make_results, make_load_result):
    details = " ".join(d for v in all_verdicts(run) for d in v.details)
    assert "TorchServe: limited maintenance since 2025 (pytorch/serve #3396" in details
    alone = make_results(served=[_target(make_load_result, "triton", "onnx", [1.6], 430.0)], local=[LOCAL[0]])
    assert "pytorch/serve #3396" not in " ".join(d for v in all_verdicts(alone) for d in v.details)
    fastest_ts = make_results(served=[], local=[_local("torchscript", 0.3), _local("onnx", 0.6)])
    runtime = next(v for v in all_verdicts(fastest_ts) if v.key == "runtime")
    assert runtime.winner == "torchscript"
    assert any("TorchScript: deprecated in favour of torch.export from PyTorch 2.11" in d for d in runtime.details)


def test_the_stack_by_runtime_table_holds_each_pairs_slo_rate(run):
    table = slo_matrix(run)
    assert table.headers == ["stack", "torchscript", "onnx"]
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["TorchServe"] == ["90.0 req/s", "250.0 req/s"]
    assert rows["Triton"] == ["-", "430.0 req/s"]
    section = fair_fight_section(run)
    assert section is not None and len(section.blocks[1].rows) == 4  # the split of every served target
