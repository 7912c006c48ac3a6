"""Where the SLO search of a request batch size after the first starts (scenario.batch_start_rate):
from the first size's SLO rate scaled by the batch ratio, at most the size's closed-loop rate,
never below the lowest rate a trial can judge; and that the scenario searches from there."""

from __future__ import annotations

import pytest

from deploy_compare.clients import LoadConfig, SloConfig
from deploy_compare.clients.endpoint import Endpoint
from deploy_compare.clients.results import SloResult
from deploy_compare.clients.slo import lowest_judgeable_rate
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.listeners import ServedProgress
from deploy_compare.deploy.record import ServedRecord
from deploy_compare.deploy.results import ServedResult
from deploy_compare.deploy.scenario import (
    EncodingPlan,
    Events,
    Runs,
    Scenario,
    ScenarioSettings,
    batch_start_rate,
)
from deploy_compare.progress import ProgressLog

pytestmark = pytest.mark.unit

SLO = SloConfig(p99_bound_ms=50.0, start_rate_rps=200.0)
# trials capped at 264 s: a clean pass at 99% confidence (528 requests, 25% slack for a
# Poisson schedule) needs 2.5 req/s at the least
TRIAL = LoadConfig(warmup_s=1.0, duration_s=264.0, min_requests=300)


def test_the_first_sizes_slo_rate_in_samples_per_s_becomes_requests_at_the_larger_size():
    rate, origin = batch_start_rate(SLO, TRIAL, 8, 1, 400.0, None)
    assert rate == 50.0 and "batch 1's SLO rate 400 req/s x 1/8" in origin
    assert batch_start_rate(SLO, TRIAL, 32, 8, 100.0, None)[0] == 25.0  # the ratio of the two sizes
    assert batch_start_rate(SLO, TRIAL, 32, 1, 250.0, None)[0] == 7.81  # rounded to 0.01 req/s


def test_the_closed_loop_rate_at_that_size_caps_the_start():
    rate, origin = batch_start_rate(SLO, TRIAL, 8, 1, 400.0, 31.4)
    assert rate == 31.4 and "capped at batch 8's closed-loop 31.4 req/s" in origin
    assert batch_start_rate(SLO, TRIAL, 8, 1, 400.0, 80.0)[0] == 50.0  # above the estimate: no cap


def test_the_start_is_never_below_the_lowest_rate_a_trial_can_judge():
    assert lowest_judgeable_rate(TRIAL, SLO) == pytest.approx(2.5)
    rate, origin = batch_start_rate(SLO, TRIAL, 32, 1, 40.0, None)  # 1.25 req/s: trials end undecided
    assert rate == 2.5 and "within its 264 s" in origin
    lenient = LoadConfig(warmup_s=1.0, duration_s=660.0, min_requests=10)  # a floor of 1 req/s
    rate, origin = batch_start_rate(SloConfig(min_rate_rps=2.0), lenient, 32, 1, 40.0, 0.5)
    assert rate == 2.0 and "[slo] min_rate_rps" in origin
    assert batch_start_rate(SloConfig(start_rate_rps=50.0, max_rate_rps=100.0), TRIAL, 2, 8, 400.0, None)[0] == 100.0


def test_without_a_first_rate_the_configured_start_is_scaled():
    rate, origin = batch_start_rate(SLO, TRIAL, 8, 1, None, None)
    assert rate == 25.0 and "start_rate_rps 200 x 1/8" in origin


def test_the_quick_profiles_floor_raises_batch_8s_scaled_start_and_says_so():
    # 200 req/s / 8 = 25 req/s: under the floor a quick trial (6 s cap, never stretched) can pass
    # at (~110 req/s); the default's trials stretch up to 30 s at low rates, so 25 req/s stands.
    for quick in (False, True):
        _, _, trial, slo = load_run_config(quick=quick).load_settings()
        floor = lowest_judgeable_rate(trial, slo)
        rate, origin = batch_start_rate(slo, trial, 8, 1, slo.start_rate_rps, None)
        assert rate == pytest.approx(max(floor, slo.start_rate_rps / 8))
        assert ("within its" in origin) == quick, (quick, floor, origin)


class _Result:
    server = None

    def __init__(self, rps: float, concurrency: int = 4) -> None:
        self.throughput_rps, self.throughput_samples_per_s = rps, rps * 8
        self.concurrency, self.p50_ms, self.p99_ms, self.errors, self.client_bottleneck = (
            concurrency,
            9.0,
            20.0,
            {},
            False,
        )

    def to_dict(self) -> dict:
        return {"throughput_rps": self.throughput_rps, "batch_size": 8, "concurrency": self.concurrency}


class _Trial:
    def __init__(self, rate: float) -> None:
        self.rate_rps = rate

    def to_dict(self) -> dict:
        return {"rate_rps": self.rate_rps}


def _measure(levels: list[int], first_trial=None) -> tuple[list, dict]:
    """The scenario's second batch size (deploy/scenario.py) with stand-ins for the load runs
    and the search, recorded by the served stage's listener (the plumbing only: the search
    itself is clients/slo.py's, tested there and on real servers). Batch 1 searches first and
    finds 400 req/s; batch 8 then runs `levels` and its search."""
    searched: list = []

    def closed(endpoint, payloads, cfg, on_progress=None):
        return _Result(30.0, cfg.concurrency)

    def search(endpoint, payloads, trial, slo, on_trial, run, single):
        searched.append((slo.start_rate_rps, single))
        if payloads == 1:
            return SloResult(50.0, 400.0, None, False, [_Trial(200.0)])
        trials = [_Trial(first_trial if first_trial is not None else slo.start_rate_rps)]
        return SloResult(50.0, 28.0, 31.0, False, trials, confirmed=True)

    result = ServedResult(target="t", status="OK")
    settings = ScenarioSettings(
        closed=TRIAL, open_loop=TRIAL, slo=SLO, batch_sizes=(1, 8), levels=(), batch_levels=tuple(levels)
    )
    plans = [EncodingPlan("json", Endpoint(url="http://127.0.0.1:1", encoding="kserve_v2", model="m"), None)]
    events = Events().add(ServedRecord(result, lambda: None, 1, plans))
    with ProgressLog(quiet=True) as progress:
        events.add(ServedProgress(progress, "t", 1, 1, 1))
        runs = Runs(closed=closed, open=closed, search=search)
        Scenario(plans, lambda endpoint, batch_size: batch_size, settings, runs, events).run()
    [entry] = result.batches
    return searched[1:], entry


def test_measure_batch_searches_from_the_seeded_rate_and_records_it():
    searched, entry = _measure([4])  # no concurrency-1 run at this size: the seed is the start
    assert searched == [(30.0, None)]  # batch 1's 400 req/s / 8 = 50, capped at the closed loop's 30
    assert entry["slo_start_rate_rps"] == 30.0 and "closed-loop 30 req/s" in entry["slo_start_from"]
    assert entry["slo"]["max_rate_rps"] == 28.0 and entry["status"] == "OK"


def test_a_concurrency_1_run_at_that_size_seeds_the_search_instead():
    searched, entry = _measure([1], first_trial=15.0)  # clients/slo.py starts at half its 30 req/s
    assert searched[0][1] is not None and searched[0][1].concurrency == 1
    assert entry["slo_start_rate_rps"] == 15.0 and "concurrency-1 throughput" in entry["slo_start_from"]
