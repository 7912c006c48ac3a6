"""The SLO search's rules on scripted trial outcomes: a capped-short trial never passes, the
rate found is confirmed by a repeat (and replaced when it does not hold), trials are apart,
and the answer is the [pass, fail) bracket. The search against a real server: test_load_http.py
and tests/servers/test_repeats_real.py."""

from __future__ import annotations

import dataclasses

import pytest

from deploy_compare.clients import Endpoint, LoadConfig, LoadResult, SloConfig, find_max_rate_under_slo
from deploy_compare.clients.slo import bracket, judge
from deploy_compare.confidence import SequentialBound

pytestmark = pytest.mark.unit

ENDPOINT = Endpoint(url="http://127.0.0.1:9", encoding="kserve_v2", model="m")
# A trial's time cap is long enough for the sequential rule down to ~5/s (a clean pass takes ~528 requests).
CONFIG = LoadConfig(duration_s=100.0, warmup_s=0.0, min_requests=100)


def outcome(rate: float, p99: float | None, *, short: bool = False, seed: int = 0) -> LoadResult:
    """A trial's result as the analysis leaves it: the sequential rule's verdict (bound 50 ms)
    passes a p99 of 10 ms after ~528 requests, fails an unbounded one; `short`: undecided."""
    requests = 50 if short else 1000
    verdict = None if short else (p99 is not None and p99 <= 50.0)
    return LoadResult(
        slo_verdict=verdict,
        slo_decided_after=requests if short else (528 if verdict else 60),
        slo_over_bound=0 if verdict or short else 40,
        mode="open",
        protocol="kserve_v2",
        url=ENDPOINT.url,
        model="m",
        concurrency=None,
        target_rate_rps=rate,
        arrival="poisson",
        max_in_flight=64,
        seed=seed,
        warmup_s=0.0,
        window_s=1.0,
        requests=requests,
        completed=requests,
        throughput_rps=rate,
        p50_ms=None if p99 is None else p99 / 3,
        p90_ms=None,
        p95_ms=None,
        p99_ms=p99,
        p999_ms=None,
        max_ms=None,
        min_ms=None,
        mean_ms=None,
        p99_incl_failures_ms=p99,
        errors={"timeout": 0 if p99 is not None else 40},
        dropped=0,
        error_examples={},
        correctness_checked=0,
        correctness_agreed=0,
        top1_agreement=None,
        client_cpu_share=0.2,
        late_share=0.0,
        late_threshold_ms=5.0,
        max_send_lag_ms=0.5,
        client_bottleneck=False,
        bottleneck_reasons=[],
        min_requests_met=not short,
        body_bytes=100,
    )


def test_a_client_limited_first_rate_halves_to_a_lower_bound():
    server = Scripted(capacity=1000.0, client_limit=60.0)
    result = search(server, max_trials=8)
    assert [r for r, _ in server.calls] == [100.0, 50.0]  # no bisection above the client's limit
    assert result.max_rate_rps == 50.0 and result.limited_by_client and result.confirmed is None
    assert "lower bound" in result.note
    nothing = search(Scripted(capacity=1000.0, client_limit=1.0), max_trials=3)
    assert nothing.max_rate_rps is None and "fell behind at every rate tried (down to 25/s)" in nothing.note


class Scripted:
    """A server of a given capacity: p99 10 ms below it, unbounded above; `flaky` rates pass
    only on the first trial at them (the lucky trial the confirmation exists for)."""

    def __init__(
        self, capacity: float, flaky: tuple[float, ...] = (), short_below: float = 0.0, client_limit: float = 1e9
    ) -> None:
        self.capacity, self.flaky, self.short_below, self.client_limit = capacity, set(flaky), short_below, client_limit
        self.calls: list[tuple[float, int]] = []
        self.settles = 0

    def run(self, endpoint, payloads, config, on_progress=None) -> LoadResult:
        rate = config.rate_rps
        seen_before = any(r == rate for r, _ in self.calls)
        self.calls.append((rate, config.seed))
        short = rate < self.short_below
        ok = rate <= self.capacity or (rate in self.flaky and not seen_before)
        result = outcome(rate, 10.0 if ok else None, short=short, seed=config.seed)
        if rate > self.client_limit:  # the client fell behind its schedule
            result = dataclasses.replace(result, client_bottleneck=True, bottleneck_reasons=["sends late"])
        return result

    def settle(self) -> None:
        self.settles += 1


def search(server: Scripted, **slo) -> object:
    settings = SloConfig(**{"p99_bound_ms": 50.0, "start_rate_rps": 100.0, "rel_tolerance": 0.05, **slo})
    # The scripted run never sends: no payloads needed.
    return find_max_rate_under_slo(ENDPOINT, None, CONFIG, settings, run=server.run, settle=server.settle)


def test_a_trial_cut_short_by_the_cap_does_not_pass():
    passed, reason = judge(outcome(100.0, 5.0, short=True), SloConfig())
    assert not passed and "undecided after 50 requests" in reason and "at 99% confidence not shown" in reason
    passed, reason = judge(outcome(100.0, None), SloConfig())
    assert not passed and "40 of 60 requests over 50 ms or failed" in reason
    assert judge(outcome(100.0, 5.0), SloConfig()) == (True, "")


def test_the_rate_found_is_confirmed_on_another_seed_and_trials_are_apart():
    server = Scripted(capacity=575.0)
    result = search(server, max_trials=8)
    assert result.confirmed is True
    best, fail = result.max_rate_rps, result.lowest_failing_rate_rps
    assert best <= 575.0 < fail and (fail - best) / best <= 0.05  # the bracket [pass, fail) holds the capacity
    confirm = [t for t in result.trials if t.confirm]
    assert len(confirm) == 1 and confirm[0].rate_rps == best and confirm[0].passed
    assert confirm[0].result.seed != result.trials[0].result.seed
    assert server.settles == len(result.trials) - 1  # a pause + health check before every trial but the first


def test_a_lucky_rate_that_fails_its_confirmation_is_replaced_by_the_next_lower_one():
    # 562.5 passes once (lucky), fails when repeated: the answer moves down to 550 and is confirmed there.
    server = Scripted(capacity=550.0, flaky=(562.5,))
    result = search(server, start_rate_rps=150.0, max_trials=8, confirm_trials=2)
    rates = [(t.rate_rps, t.passed, t.confirm) for t in result.trials]
    assert (562.5, True, False) in rates and (562.5, False, True) in rates
    assert result.max_rate_rps < 562.5 and result.lowest_failing_rate_rps == 562.5
    assert result.confirmed is True and rates[-1] == (result.max_rate_rps, True, True)


def test_no_confirmation_left_says_so():
    server = Scripted(capacity=550.0, flaky=(562.5,))
    result = search(server, start_rate_rps=150.0, max_trials=8, confirm_trials=1)
    assert result.confirmed is False and "failed its confirmation" in result.note
    assert result.max_rate_rps is not None and result.max_rate_rps < 562.5


def test_a_single_lucky_pass_that_fails_its_confirmation_leaves_no_rate():
    server = Scripted(capacity=10.0, flaky=(25.0,))
    # 100 fail, 50 fail, 25 pass (lucky), confirm 25 fails, one step down to 12.5: fails as well
    result = search(server, max_trials=3)
    assert result.max_rate_rps is None and result.lowest_failing_rate_rps == 12.5 and result.confirmed is False
    assert "failed its confirmation" in result.note and "no rate tried met the bound" not in result.note
    assert "stepped down to 12.5/s" in result.note


def test_halving_stops_at_a_rate_too_low_to_reach_min_requests():
    server = Scripted(capacity=10.0, short_below=60.0)
    result = search(server, max_trials=8)
    assert [r for r, _ in server.calls] == [100.0, 50.0]  # 50/s was cut short: 25/s would be too
    assert result.max_rate_rps is None and "ended undecided at its cap" in result.note


def test_bracket_counts_a_rate_that_passed_once_and_failed_once_as_failing():
    trials = search(
        Scripted(capacity=550.0, flaky=(562.5,)), start_rate_rps=150.0, max_trials=8, confirm_trials=2
    ).trials
    assert bracket(trials)[1] == 562.5
    assert bracket([]) == (None, None)


def test_the_load_table_shows_p99_with_failures_counted_next_to_p99():
    from deploy_compare.commands.load import _row

    headers_at = 6  # run, requests, req/s, samples/s, p50, p90, p99, then p99 incl. failures
    bounded = _row(outcome(100.0, 12.5), confirm=True)
    assert bounded[0] == "100/s poisson (confirm)" and bounded[headers_at + 1] == "12.50"
    assert _row(outcome(100.0, None))[headers_at + 1] == "unbounded"  # over 1% failed: no p99 bounds it


def closed_c1(
    throughput: float, p50: float, p99: float, requests: int = 1000, p99_low: float | None = None
) -> LoadResult:
    """The concurrency-1 closed loop run just before a search (deploy/scenario.py passes it as
    `single`); `p99_low`: the lower end of its p99's 95% interval (default: 90% of the p99)."""
    single = outcome(throughput, p99)
    low = p99 * 0.9 if p99_low is None else p99_low
    return dataclasses.replace(
        single,
        mode="closed",
        concurrency=1,
        target_rate_rps=None,
        requests=requests,
        p50_ms=p50,
        p99_incl_failures_ci_ms=[low, None],
    )


def search_after(server: Scripted, single: LoadResult, **slo) -> object:
    settings = SloConfig(**{"p99_bound_ms": 50.0, "start_rate_rps": 100.0, "rel_tolerance": 0.05, **slo})
    return find_max_rate_under_slo(
        ENDPOINT, None, CONFIG, settings, run=server.run, settle=server.settle, single=single
    )


def test_one_request_at_a_time_over_the_bound_runs_no_trial():
    server = Scripted(capacity=1000.0)
    slow = search_after(server, closed_c1(throughput=15.0, p50=60.0, p99=90.0, requests=40))
    assert server.calls == [] and slow.max_rate_rps is None and slow.trials == []
    assert "p50 60.00 ms > 50 ms" in slow.note and "no trial was run" in slow.note
    # p99 over the bound settles it only when its 95% interval lies above the bound
    sure = search_after(server, closed_c1(15.0, 40.0, 90.0, p99_low=60.0))
    assert sure.trials == [] and "95% interval from 60.00 ms" in sure.note
    few = search_after(Scripted(capacity=1000.0), closed_c1(15.0, 40.0, 90.0, p99_low=45.0), max_trials=2)
    assert few.trials  # the interval reaches under the bound: the trials decide


def test_the_search_starts_at_half_the_concurrency_1_throughput_and_halves_no_lower_than_a_quarter():
    server = Scripted(capacity=700.0)
    result = search_after(server, closed_c1(throughput=400.0, p50=2.0, p99=4.0), max_trials=8)
    assert server.calls[0][0] == 200.0 and 700.0 >= result.max_rate_rps >= 650.0
    configured = Scripted(capacity=700.0)
    search_after(configured, closed_c1(400.0, 2.0, 4.0), max_trials=2, start_from_single=False)
    assert configured.calls[0][0] == 100.0  # start_rate_rps as set
    # Nothing passes: 200 fails, 100 (a quarter of 400/s) fails, and the search stops there.
    never = Scripted(capacity=10.0)
    result = search_after(never, closed_c1(throughput=400.0, p50=2.0, p99=4.0), max_trials=8)
    assert [r for r, _ in never.calls] == [200.0, 100.0] and result.max_rate_rps is None
    assert "a quarter of the concurrency-1 throughput" in result.note


def test_a_failed_repeat_steps_under_the_quarter_throughput_floor_but_not_under_a_judgeable_rate():
    # One request at a time at 800/s: a quarter is 200/s, here also the cap, so the search starts
    # and ends there. 200/s passes once (lucky) and fails its repeat; the quarter only saves
    # bracket trials, so the step goes to 100/s, which holds and is confirmed.
    server = Scripted(capacity=150.0, flaky=(200.0,))
    single = closed_c1(throughput=800.0, p50=2.0, p99=4.0)
    result = search_after(server, single, max_trials=2, max_rate_rps=200.0, start_from_single=False)
    assert [r for r, _ in server.calls] == [200.0, 200.0, 100.0, 100.0]
    assert result.max_rate_rps == 100.0 and result.confirmed is True and "stepped down to 100/s" in result.note
    # ... but never under the floor of the trials themselves: [slo] min_rate_rps here
    held = Scripted(capacity=150.0, flaky=(200.0,))
    floored = search_after(
        held,
        single,
        max_trials=2,
        start_rate_rps=180.0,
        max_rate_rps=200.0,
        min_rate_rps=180.0,
        start_from_single=False,
    )
    assert [r for r, _ in held.calls] == [200.0, 200.0, 180.0] and floored.confirmed is False


def test_the_search_never_starts_or_halves_below_the_lowest_rate_a_trial_can_judge():
    # Trials capped at 10 s: a clean pass at 99% needs ~528 requests in them, so ~52.8/s, and
    # 25% over it so that a Poisson schedule holds them.
    strict = LoadConfig(duration_s=10.0, warmup_s=2.0, min_requests=100)
    floor = 1.25 * SequentialBound(confidence=0.99, cap=20000).threshold(0) / 10.0
    assert 65.0 < floor < 67.0
    server = Scripted(capacity=1000.0)
    settings = SloConfig(p99_bound_ms=50.0, start_rate_rps=100.0, max_trials=2, max_duration_s=10.0)
    single = closed_c1(throughput=25.0, p50=30.0, p99=45.0, requests=100)
    find_max_rate_under_slo(ENDPOINT, None, strict, settings, run=server.run, settle=server.settle, single=single)
    assert server.calls[0][0] == pytest.approx(floor)  # not 12.5/s: it would end undecided
    never = Scripted(capacity=1.0)
    wide = dataclasses.replace(settings, max_trials=8)
    result = find_max_rate_under_slo(ENDPOINT, None, strict, wide, run=never.run, settle=never.settle)
    assert [r for r, _ in never.calls] == [100.0, pytest.approx(floor)]
    assert "can show p99 <= 50 ms at 99% confidence within its 10 s" in result.note


def test_a_repetition_that_ran_no_trial_bounds_nothing_in_the_combined_bracket():
    from deploy_compare.repeats import combine_slo

    skipped = {"p99_bound_ms": 50.0, "max_rate_rps": None, "lowest_failing_rate_rps": None, "repetition": 1}
    found = {"p99_bound_ms": 50.0, "max_rate_rps": 300.0, "lowest_failing_rate_rps": 330.0, "repetition": 2}
    combined = combine_slo([skipped, found], [])
    assert combined["bracket_high_rps"] == 330.0 and combined["rate_min_rps"] == 0.0
    assert combine_slo([skipped], [])["bracket_high_rps"] is None
    never_failed = {**found, "lowest_failing_rate_rps": None}
    assert combine_slo([found, never_failed], [])["bracket_high_rps"] is None  # the highest rate allowed passed


def test_when_every_passing_rate_fails_its_repeat_the_search_steps_down_once_and_confirms_there():
    # 100/s passes once (a lucky trial), everything above fails: its repeat fails too, so the
    # search tries 50/s, which holds, and confirms it.
    server = Scripted(capacity=60.0, flaky=(100.0,))
    result = search(server, max_trials=4)
    assert [r for r, _ in server.calls] == [100.0, 200.0, 150.0, 125.0, 100.0, 50.0, 50.0]
    assert result.max_rate_rps == 50.0 and result.confirmed is True
    assert "stepped down to 50/s" in result.note
    # Below the floor there is nothing to step to: the answer stays "none", unconfirmed.
    hopeless = Scripted(capacity=1.0, flaky=(100.0,))
    result = search(hopeless, max_trials=4, min_rate_rps=60.0)
    assert result.max_rate_rps is None and result.confirmed is False


def test_a_search_that_ends_on_its_trial_budget_says_so_and_gives_the_bracket():
    # capacity far above what 3 doublings reach: 100, 200, 400 pass, the budget ends, 400 is confirmed
    result = search(Scripted(capacity=1e6), max_trials=3)
    assert result.max_rate_rps == 400.0 and result.lowest_failing_rate_rps is None
    assert "trial budget (max_trials=3) ran out before any rate failed" in result.note
    assert "at least 400/s, bracket [400, none failed)" in result.note
    assert "highest rate allowed" not in result.note and "cap" not in result.note
    # ... and with a failure in a bracket the budget left wide
    wide = search(Scripted(capacity=300.0), max_trials=3)
    assert (wide.max_rate_rps, wide.lowest_failing_rate_rps) == (200.0, 400.0)
    assert "trial budget (max_trials=3) ran out: the limit lies in the bracket [200, 400)" in wide.note


def test_a_search_that_reaches_the_configured_cap_says_at_least_the_cap():
    result = search(Scripted(capacity=1e6), max_trials=8, max_rate_rps=300.0)
    assert result.max_rate_rps == 300.0 and result.lowest_failing_rate_rps is None
    assert "at least 300/s (cap)" in result.note and "trial budget" not in result.note


def test_a_trial_at_a_low_rate_runs_as_long_as_a_clean_pass_needs_up_to_its_cap():
    """A model slower than the default trial's floor (~83 req/s in 8 s) still gets its SLO rate:
    at 25 req/s the trial runs the 26.4 s a clean pass needs there (1.25 x 528 requests), at
    5 req/s up to [slo] max_duration_s, and a fast rate keeps duration_s."""
    from deploy_compare.clients.slo import lowest_judgeable_rate, trial_config

    load = LoadConfig(duration_s=8.0, warmup_s=1.0)
    slo = SloConfig(p99_bound_ms=100.0, max_duration_s=30.0)
    assert trial_config(load, slo, 400.0, 0).max_duration_s == pytest.approx(9.0)
    assert trial_config(load, slo, 25.0, 0).max_duration_s == pytest.approx(1.0 + 1.25 * 528 / 25)
    assert trial_config(load, slo, 5.0, 0).max_duration_s == pytest.approx(31.0)
    assert lowest_judgeable_rate(load, slo) == pytest.approx(1.25 * 528 / 30)  # 22 req/s, not 82.5
    short = SloConfig(p99_bound_ms=100.0, max_duration_s=6.0)  # below duration_s: never shorter than it
    assert trial_config(load, short, 25.0, 0).max_duration_s == pytest.approx(9.0)
