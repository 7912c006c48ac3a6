"""Repetitions and the SLO confirmation against the REAL FastAPI services (ONNX Runtime and
LiteRT under uvicorn): two stacks, two repetitions, interleaved A B A B exactly as the
pipeline runs them (deploy.plan.served_plan), each stack started once per repetition.
Short durations: this checks what is recorded, not how fast anything is."""

from __future__ import annotations

import pytest

from deploy_compare.deploy.affinity import plan_cores
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.plan import served_plan
from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult
from deploy_compare.deploy.served import run_served_target
from deploy_compare.report import tables
from deploy_compare.report.serverview import cold_start_table, slo_point
from deploy_compare.report.verdicts import all_verdicts
from deploy_compare.servers.registry import get

pytestmark = [pytest.mark.fastapi_service, pytest.mark.timeout(300)]

TARGETS = ["fastapi_onnx", "fastapi_litert"]


class Progress:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def load_callback(self, label: str):
        return None


def test_two_stacks_two_repetitions_interleaved_with_a_confirmed_slo_rate(artifacts, tmp_path):
    config = load_run_config(
        overrides={
            "run": {"server_mode": "native", "targets": TARGETS, "repeat": 2},
            # A shared CI machine delays the client's sends: a looser self-check (this test checks
            # what is recorded, and a client-limited search would skip the confirmation).
            "load": {
                "batch_sizes": [1],  # batch sizes are tests/tune's: here the repetitions alone
                "encodings": ["json"],  # and encodings the conformance tier's
                "concurrency": [1, 2],
                "warmup_s": 0.2,
                "duration_s": 0.8,
                "min_requests": 20,
                "late_threshold_ms": 50.0,
                "max_late_share": 0.5,
            },
            # Low rates that every stack sustains. One request at a time runs at several hundred a
            # second, so the search's floor (a quarter of that) usually starts it at the cap: one
            # trial, then its confirmation; a slower machine starts at 75/s and doubles.
            # Confidence 0.5: a clean pass takes 138 requests (528 at 0.99), so 2.5 s trials at
            # these rates decide; the mechanics, not the precision, are under test.
            "slo": {
                "confidence": 0.5,
                "duration_s": 2.5,
                "max_duration_s": 2.5,  # not stretched at low rates: short trials
                "max_trials": 2,
                # A loaded CI machine once failed the repeat at 200/s (p99 over 1 s): the search
                # then confirms the rate below, or half the rate (clients/slo.py, step 3).
                "confirm_trials": 2,
                "start_rate_rps": 75.0,
                "start_from_single": False,  # half the c=1 throughput is ~800 req/s: not low
                "max_rate_rps": 150.0,
                "pause_s": 0.2,
                "p99_bound_ms": 1000.0,  # a loaded machine's stalls must not fail these low rates
            },
        }
    )
    results = {k: ServedResult(target=k, status="OK", artifact=get(k).artifact, repeat=2) for k in TARGETS}
    progress = Progress()
    for _, kind, repetition in served_plan(TARGETS, 2):
        run_served_target(
            kind,
            config,
            artifacts,
            tmp_path,
            plan_cores(),
            results[kind],
            lambda: None,
            progress,
            repetition=repetition,
        )
    starts = [line for line in progress.lines if ": starting " in line]
    assert len(starts) == 4 and "(repetition 2/2)" in starts[2]  # one start per stack and repetition
    for s in results.values():
        # Every repetition kept: each level twice, numbered.
        assert sorted((p["concurrency"], p["repetition"]) for p in s.sweep) == [(1, 1), (1, 2), (2, 1), (2, 2)]
        assert all(p["requests"] >= 20 and p["min_requests_met"] for p in s.sweep)
        # The SLO search ran per repetition and confirmed its rate on another seed.
        assert [r["repetition"] for r in s.slo_repeats] == [1, 2]
        trials = s.slo["trials"]
        for rep in s.slo_repeats:
            assert rep["confirmed"] is True, [(t["rate_rps"], t["passed"], t["reason"]) for t in trials]
            # The rate reported passed twice in its repetition: the search's trial and the confirmation.
            at_rate = [
                t for t in trials if t["repetition"] == rep["repetition"] and t["rate_rps"] == rep["max_rate_rps"]
            ]
            assert [t["confirm"] for t in at_rate] == [False, True] and all(t["passed"] for t in at_rate)
            assert at_rate[0]["result"]["seed"] != at_rate[1]["result"]["seed"]
        assert s.slo["repetitions"] == 2 and s.slo["confirmed"] is True
        rates = [r["max_rate_rps"] for r in s.slo_repeats]
        assert s.slo["rate_min_rps"] == min(rates) and s.slo["rate_max_rps"] == max(rates)
        assert all(t["result"]["min_requests_met"] for t in trials)
        # The second repetition's server wrote its own log.
        assert (tmp_path / "servers" / "repetition-2").is_dir()
        # Each launch's cold start is kept; start-to-healthy is their median, cold_start the first's.
        colds = s.cold_start_repeats
        assert [c["repetition"] for c in colds] == [1, 2] and s.cold_start["launch_to_healthy_s"] == (
            colds[0]["launch_to_healthy_s"]
        )
        healthy = [c["launch_to_healthy_s"] for c in colds]
        assert s.startup_s == pytest.approx(sum(healthy) / 2, abs=1e-3)
        # The SLO row stands on each repetition's passing trial (their median), never vanishes.
        point = slo_point(s)
        assert point is not None and point["repetitions"] == 2 and "server" in point
    doc = RunResults(
        run=RunInfo(id="t", profile="quick", started_utc="", command="", complete=True),
        settings={},
        served=list(results.values()),
    )
    assert all(row[0].endswith("(median of 2)") for row in cold_start_table(doc).rows)
    sweep = tables.sweep_table(doc)
    assert {row[sweep.headers.index("repeats")] for row in sweep.rows} == {"2"}
    assert all(row[sweep.headers.index("p99 incl. failures ms")] not in ("-", "") for row in sweep.rows)
    verdicts = {v.key: v for v in all_verdicts(doc)}
    serving = verdicts["serving_latency"]
    assert "at concurrency 1" in serving.answer and (serving.winner in TARGETS or set(serving.tied) == set(TARGETS))
    assert any("over 2 repetitions" in d for d in serving.details)
    throughput = verdicts["throughput"]
    assert sum("confirmed by a repeat" in d for d in throughput.details) == len(TARGETS)
    assert throughput.winner in TARGETS or set(throughput.tied) == set(TARGETS)
