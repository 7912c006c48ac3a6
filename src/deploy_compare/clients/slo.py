"""The highest open-loop rate whose p99 stays under a bound (MLPerf LoadGen's Server scenario).

Bounded search, at most SloConfig.max_trials open-loop runs:
1. bracket: from start_rate_rps, double while the rate passes (halve while it fails),
   within [min_rate_rps, max_rate_rps];
2. bisect between the highest passing and the lowest failing rate until they are within
   rel_tolerance of each other.
A rate passes when p99 with failures counted as infinitely slow (so errors and drops
above 1% fail it) is <= p99_bound_ms and the client was not the bottleneck. A rate failed
only because of the client ends the search: higher rates would measure the client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .config import Endpoint, LoadConfig, SloConfig
from .payload import Payloads
from .results import LoadResult, SloResult, SloTrial
from .runner import ProgressFn, run_open_loop


def judge(result: LoadResult, slo: SloConfig) -> tuple[bool, str]:
    if result.client_bottleneck:
        return False, "client bottleneck: " + "; ".join(result.bottleneck_reasons)
    p99 = result.p99_incl_failures_ms
    if p99 is None:
        failed = result.error_count + result.dropped
        return False, f"{failed} of {result.requests} requests failed or were dropped (p99 unbounded)"
    if p99 > slo.p99_bound_ms:
        return False, f"p99 {p99:.2f} ms > {slo.p99_bound_ms:g} ms"
    return True, ""


def find_max_rate_under_slo(
    endpoint: Endpoint,
    payloads: Payloads,
    config: LoadConfig,
    slo: SloConfig = SloConfig(),
    on_progress: ProgressFn | None = None,
    on_trial: Callable[[SloTrial], None] | None = None,
    run: Callable[..., LoadResult] | None = None,  # replaces run_open_loop (distributed.ClientPool.run_open)
) -> SloResult:
    run = run or run_open_loop
    trials: list[SloTrial] = []
    best: float | None = None  # highest passing rate
    worst: float | None = None  # lowest failing rate
    client_limited = False

    def trial(rate: float) -> bool:
        nonlocal best, worst, client_limited
        result = run(endpoint, payloads, dataclasses.replace(config, rate_rps=rate), on_progress)
        passed, reason = judge(result, slo)
        t = SloTrial(rate, passed, reason, result)
        trials.append(t)
        if on_trial is not None:
            on_trial(t)
        if passed:
            best = rate if best is None else max(best, rate)
        else:
            worst = rate if worst is None else min(worst, rate)
            client_limited = client_limited or result.client_bottleneck
        return passed

    rate = slo.start_rate_rps
    note = ""
    # 1. bracket
    while len(trials) < slo.max_trials:
        passed = trial(rate)
        if passed:
            if worst is not None or rate >= slo.max_rate_rps:
                break
            rate = min(rate * 2, slo.max_rate_rps)
        else:
            if client_limited or best is not None or rate <= slo.min_rate_rps:
                break
            rate = max(rate / 2, slo.min_rate_rps)
    # 2. bisect
    while (
        len(trials) < slo.max_trials
        and best is not None
        and worst is not None
        and not client_limited
        and (worst - best) / best > slo.rel_tolerance
    ):
        trial((best + worst) / 2)
    if best is None:
        note = "no rate tried met the bound"
    elif worst is None:
        note = f"the highest rate allowed ({slo.max_rate_rps:g}/s) still met the bound"
    elif client_limited:
        note = "the client was the bottleneck: max_rate_rps is a lower bound for the server"
    elif (worst - best) / best > slo.rel_tolerance:
        note = f"stopped after max_trials={slo.max_trials} before reaching rel_tolerance"
    fewest = min((t.result.requests for t in trials), default=0)
    if 0 < fewest < 1000:
        # p99 of n samples is set by its n/100 slowest: with a few hundred, two or three requests.
        note = (note + "; " if note else "") + (
            f"a trial had only {fewest} requests: its p99 rests on {max(fewest // 100, 1)} sample(s); "
            "raise duration_s/min_requests for a stable answer"
        )
    return SloResult(
        p99_bound_ms=slo.p99_bound_ms,
        max_rate_rps=best,
        lowest_failing_rate_rps=worst,
        limited_by_client=client_limited,
        trials=trials,
        note=note,
    )
