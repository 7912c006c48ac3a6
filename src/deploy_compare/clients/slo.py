"""The highest open-loop rate whose p99 stays under a bound (MLPerf LoadGen's Server scenario).

Bounded search, at most SloConfig.max_trials open-loop runs, then a confirmation:
1. bracket: from start_rate_rps, double while the rate passes (halve while it fails),
   within [min_rate_rps, max_rate_rps];
2. bisect between the highest passing and the lowest failing rate until they are within
   rel_tolerance of each other;
3. confirm: run the rate found once more (another arrival seed). A rate that fails its
   confirmation counts as failing, and the next lower passing rate is confirmed instead
   (at most confirm_trials extra runs); when no passing rate is left, the search steps once to
   half the lowest rate that passed and confirms that. That step may go under the floor below's
   quarter of the concurrency-1 throughput (which only saves bracket trials), never under the
   lowest rate a trial can judge or min_rate_rps. One lucky trial is not an answer.

A rate passes when the sequential rule (MLPerf LoadGen's early-stopping rule, checked after
every completion: confidence.SequentialBound) shows "p99 <= p99_bound_ms at [slo] confidence"
over the trial's requests in scheduled order, failures and drops counted as over the bound,
and the client was not the bottleneck. The trial stops as soon as the rule decides (about 530
requests for a clean pass at 99%); it fails as soon as a pass is impossible within
max_requests, and a trial its duration cap ends undecided fails too (too few requests to show
the bound at that confidence). The cap is [slo] duration_s, or at a rate too low to decide
within it the time a clean pass needs there, up to [slo] max_duration_s (trial_config): a
model that serves 40 req/s a core is searched at rates it can sustain, not declared "none".
A rate failed because of the client is never bisected above (higher rates would measure the
client), but the search still halves below it to find a rate the client can drive: the answer
is then a lower bound.

Trials are apart: pause_s, then the server's health URL must answer, and each trial's
preflight request queues behind anything the last trial left, so its stragglers cannot
spill into the next trial's window.

The answer is a bracket [pass, fail): the highest rate that passed every trial run at it and
the lowest rate that failed one. A rate that passed once and failed once counts as failing.

One request at a time (`single`: the closed loop at concurrency 1, same server, same batch
size, measured just before) is what an open loop at a low rate sees too, so it bounds the
search: when its p50 is over the bound (or its p99, with as many requests as a trial needs),
no rate can pass and no trial is run; the search starts at half its throughput
(SloConfig.start_from_single), and does not halve below a quarter of it, where the server
idles three quarters of the time and a lower rate only makes each trial longer, nor below the
lowest rate a trial can judge (search_floor).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from ..errors import LoadError
from .config import Endpoint, LoadConfig, SloConfig
from .payload import Payloads
from .results import LoadResult, SloResult, SloTrial
from .runner import ProgressFn, run_open_loop


def trial_config(config: LoadConfig, slo: SloConfig, rate: float, seed: int) -> LoadConfig:
    """One trial: an open loop at `rate` stopped by the sequential rule, capped at
    max_requests and at the trial's warm-up + its duration: duration_s, or at a rate too low
    to decide within it, the time a clean pass needs there (FLOOR_SLACK over it), up to [slo]
    max_duration_s."""
    trial = dataclasses.replace(
        config,
        rate_rps=rate,
        seed=seed,
        sequential=True,
        slo_bound_ms=slo.p99_bound_ms,
        slo_confidence=slo.confidence,
        max_requests=max(slo.max_requests, config.min_requests),
        precision=None,
    )
    needed_s = FLOOR_SLACK * trial.trial_rule().threshold(0) / rate
    duration = max(config.duration_s, min(needed_s, slo.max_duration_s))
    return dataclasses.replace(trial, max_duration_s=config.warmup_s + duration)


def judge(result: LoadResult, slo: SloConfig) -> tuple[bool, str]:
    """The trial's verdict: the sequential rule's, unless the client was the bottleneck."""
    if result.client_bottleneck:
        return False, "client bottleneck: " + "; ".join(result.bottleneck_reasons)
    n, over = result.slo_decided_after or result.requests, result.slo_over_bound or 0
    if result.slo_verdict is True:
        return True, ""
    shown = slo.describe()
    if result.slo_verdict is False:
        return False, f"{over} of {n} requests over {slo.p99_bound_ms:g} ms or failed: {shown} cannot be shown"
    return False, f"undecided after {n} requests ({over} over) when the trial's cap ended it: {shown} not shown"


#: a Poisson schedule of rate x duration arrivals holds fewer about half the time: the floor
#: asks for this many times the requests a clean pass needs, so a trial at it can decide
FLOOR_SLACK = 1.25


def longest_trial_s(config: LoadConfig, slo: SloConfig) -> float:
    """The longest a trial runs after its warm-up (trial_config): at the lowest rates."""
    return max(config.duration_s, slo.max_duration_s)


def lowest_judgeable_rate(config: LoadConfig, slo: SloConfig) -> float:
    """The lowest rate whose trial can pass before its longest cap: a clean pass takes the
    rule's threshold(0) requests after the warm-up (about 530 at 99%, FLOOR_SLACK over it
    here); below it every trial ends undecided."""
    needed = trial_config(config, slo, 1.0, 0).trial_rule().threshold(0)
    return FLOOR_SLACK * needed / longest_trial_s(config, slo)


def search_floor(config: LoadConfig, slo: SloConfig, single: LoadResult | None = None) -> tuple[float, str]:
    """The lowest rate worth a trial, and why: min_rate_rps; the lowest rate a trial can judge
    (below it every trial is cut short); a quarter of the concurrency-1 throughput (below it the
    server idles and a lower rate only makes the trial longer): the highest of these."""
    floors = [
        (slo.min_rate_rps, "[slo] min_rate_rps"),
        (
            lowest_judgeable_rate(config, slo),
            f"the lowest rate whose trial can show {slo.describe()} within its {longest_trial_s(config, slo):g} s",
        ),
    ]
    if single is not None and single.throughput_rps > 0:
        floors.append(
            (single.throughput_rps / 4, "a quarter of the concurrency-1 throughput: lower rates only idle the server")
        )
    rate, why = max(floors, key=lambda f: f[0])
    return min(rate, slo.max_rate_rps), why


def _over_bound_alone(single: LoadResult | None, slo: SloConfig, config: LoadConfig) -> str:
    """Why no rate can meet the bound, judged from one request at a time ("" = it may)."""
    if single is None:
        return ""
    p50, p99 = single.p50_ms, single.p99_incl_failures_ms
    # The p99's interval, not its estimate: only a p99 surely over the bound rules every rate out.
    low = (single.p99_incl_failures_ci_ms or [None, None])[0]
    if p50 is not None and p50 > slo.p99_bound_ms:
        figure = f"p50 {p50:.2f} ms"
    elif low is not None and low > slo.p99_bound_ms:
        figure = f"p99 {p99:.2f} ms (95% interval from {low:.2f} ms)" if p99 is not None else "p99 unbounded"
    else:
        return ""
    return (
        f"one request at a time (closed loop, concurrency 1, {single.requests} requests) already has {figure} "
        f"> {slo.p99_bound_ms:g} ms: no rate can meet the bound, so no trial was run"
    )


def wait_healthy(endpoint: Endpoint, pause_s: float, deadline_s: float) -> None:
    """Sleep pause_s, then poll the endpoint's health URL until it answers 200 (to deadline_s).
    Raises LoadError naming the last answer seen."""
    import httpx

    time.sleep(pause_s)
    url, headers = endpoint.health_url, endpoint.request_headers()
    deadline = time.monotonic() + deadline_s
    last = "no answer yet"
    while True:
        try:
            response = httpx.get(url, headers=headers, timeout=max(deadline_s, 1.0))
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise LoadError(f"{url}: not healthy {deadline_s:g}s after an SLO trial (last: {last})")
        time.sleep(0.2)


def bracket(trials: list[SloTrial]) -> tuple[float | None, float | None]:
    """(highest rate that passed every trial at it, below any failure; lowest rate that failed one)."""
    failed = {t.rate_rps for t in trials if not t.passed}
    worst = min(failed) if failed else None
    passing = [t.rate_rps for t in trials if t.passed and t.rate_rps not in failed]
    passing = [r for r in passing if worst is None or r < worst]
    return (max(passing) if passing else None), worst


def how_it_ended(best: float | None, worst: float | None, slo: SloConfig, searched: int, confirmed: bool | None) -> str:
    """What stopped a search that found a rate, in words ("" when its bracket is as narrow as asked):
    the configured cap (the limit is at least the cap), the trial budget (the limit lies in the
    bracket, or is at least the highest rate tried when none failed), or a failed confirmation."""
    if best is None:
        return ""
    budget = f"the trial budget (max_trials={slo.max_trials}) ran out"
    if worst is None:
        if best >= slo.max_rate_rps:
            return f"at least {best:g}/s (cap): the highest rate allowed ([slo] max_rate_rps) still met the bound"
        if searched >= slo.max_trials:
            return f"{budget} before any rate failed: at least {best:g}/s, bracket [{best:g}, none failed)"
        return f"no rate tried failed: at least {best:g}/s, bracket [{best:g}, none failed)"
    if (worst - best) / best <= slo.rel_tolerance:
        return ""
    why = budget if confirmed is not False and searched >= slo.max_trials else "a failed confirmation"
    return f"{why}: the limit lies in the bracket [{best:g}, {worst:g}), wider than rel_tolerance={slo.rel_tolerance:g}"


def find_max_rate_under_slo(
    endpoint: Endpoint,
    payloads: Payloads,
    config: LoadConfig,
    slo: SloConfig = SloConfig(),
    on_progress: ProgressFn | None = None,
    on_trial: Callable[[SloTrial], None] | None = None,
    run: Callable[..., LoadResult] | None = None,  # replaces run_open_loop (distributed.ClientPool.run_open)
    settle: Callable[[], None] | None = None,  # between trials; default: wait_healthy(pause_s, timeout_s)
    single: LoadResult | None = None,  # the closed loop at concurrency 1 just before (module docstring)
) -> SloResult:
    hopeless = _over_bound_alone(single, slo, config)
    if hopeless:
        return SloResult(slo.p99_bound_ms, None, None, False, [], note=hopeless, confidence=slo.confidence)
    search = _Search(endpoint, payloads, config, slo, on_progress, on_trial, run, settle, single)
    search.bracket()
    search.bisect()
    if not search.client_limited:  # client-limited answers are lower bounds already: nothing to confirm
        search.confirm()
    best, worst = bracket(search.trials)
    if search.confirmed and best is None:  # cannot happen: a confirmed rate passed twice
        search.confirmed = False
    return SloResult(
        p99_bound_ms=slo.p99_bound_ms,
        max_rate_rps=best,
        lowest_failing_rate_rps=worst,
        limited_by_client=search.client_limited,
        trials=search.trials,
        note="; ".join(search.notes(best, worst)),
        confirmed=search.confirmed,
        confidence=slo.confidence,
    )


class _Search:
    """One search's state: the trials so far and what they showed (module docstring's steps)."""

    def __init__(self, endpoint, payloads, config, slo, on_progress, on_trial, run, settle, single) -> None:
        self.endpoint, self.payloads, self.config, self.slo = endpoint, payloads, config, slo
        self.on_progress, self.on_trial, self.run = on_progress, on_trial, run or run_open_loop
        self.settle = settle or (lambda: wait_healthy(endpoint, slo.pause_s, config.timeout_s + slo.pause_s))
        self.trials: list[SloTrial] = []
        self.client_limited = False
        self.cut_short = False  # a trial ended undecided with none over: lower rates reach fewer requests
        self.searched = 0  # trials spent bracketing and bisecting (max_trials)
        self.confirmed: bool | None = None
        self.stepped: float | None = None  # the rate stepped down to when every passing rate failed a repeat
        self.floor, self.floor_why = search_floor(config, slo, single)
        rate = slo.start_rate_rps
        if single is not None and single.throughput_rps > 0 and slo.start_from_single:
            rate = single.throughput_rps / 2
        self.start = min(max(rate, self.floor), slo.max_rate_rps)

    def trial(self, rate: float, confirm: bool = False) -> bool:
        if self.trials:
            self.settle()
        seed = self.config.seed + sum(t.confirm for t in self.trials) + (1 if confirm else 0)
        config = trial_config(self.config, self.slo, rate, seed)
        result = self.run(self.endpoint, self.payloads, config, self.on_progress)
        passed, reason = judge(result, self.slo)
        t = SloTrial(rate, passed, reason, result, confirm)
        self.trials.append(t)
        if self.on_trial is not None:
            self.on_trial(t)
        if not passed:
            self.client_limited = self.client_limited or result.client_bottleneck
            self.cut_short = self.cut_short or (result.slo_verdict is None and not result.slo_over_bound)
        return passed

    def bracket(self) -> None:
        """1. From the start, double while the rate passes (halve while it fails)."""
        slo, rate = self.slo, self.start
        while self.searched < slo.max_trials:
            self.searched += 1
            if self.trial(rate):
                if bracket(self.trials)[1] is not None or rate >= slo.max_rate_rps:
                    break
                rate = min(rate * 2, slo.max_rate_rps)
            else:
                # Lower rates may be within the client's reach (the answer is then a lower bound);
                # nothing lower is needed once a rate passed, nor possible below a capped-short trial.
                if self.cut_short or bracket(self.trials)[0] is not None or rate <= self.floor:
                    break
                rate = max(rate / 2, self.floor)

    def _wide(self) -> bool:
        best, worst = bracket(self.trials)
        return best is not None and worst is not None and (worst - best) / best > self.slo.rel_tolerance

    def bisect(self) -> None:
        """2. Halve the bracket until it is within rel_tolerance (never above a client limit)."""
        while self.searched < self.slo.max_trials and not self.client_limited and self._wide():
            self.searched += 1
            best, worst = bracket(self.trials)
            assert best is not None and worst is not None  # _wide() checked
            self.trial((best + worst) / 2)

    def confirm(self) -> None:
        """3. Run the rate found again; a failed repeat makes it failing, the next lower is tried."""
        budget = self.slo.confirm_trials
        while True:
            best = bracket(self.trials)[0]
            if best is None:
                # Every rate that passed failed its repeat: one step below the lowest of them (a
                # new rate, confirmed in turn), so a noisy p99 near the bound does not read as
                # "no rate at all" when half that rate holds.
                once = [t.rate_rps for t in self.trials if t.passed]
                step_floor = search_floor(self.config, self.slo)[0]  # without the quarter-throughput floor
                lower = max(min(once) / 2, step_floor) if once else None
                if self.stepped is not None or self.confirmed is not False or lower is None or lower >= min(once):
                    break
                self.stepped = lower
                if self.trial(lower):
                    budget = max(budget, 1)
                continue
            if budget == 0:
                break
            budget -= 1
            if self.trial(best, confirm=True):
                self.confirmed = True
                break
            self.confirmed = False

    def notes(self, best: float | None, worst: float | None) -> list[str]:
        """What the answer rests on, in words (SloResult.note)."""
        slo, trials = self.slo, self.trials
        notes = []
        if best is None and self.client_limited and all(t.result.client_bottleneck for t in trials):
            lowest = min(t.rate_rps for t in trials)
            notes.append(
                f"the load client fell behind at every rate tried (down to {lowest:g}/s): the server was not measured"
            )
        elif best is None and not any(t.passed for t in trials):
            lowest = min(t.rate_rps for t in trials)
            notes.append(
                "no rate tried met the bound"
                + (f" (down to {lowest:g}/s, {self.floor_why})" if lowest <= self.floor else "")
            )
        elif best is None:
            pass  # a rate passed once and failed its confirmation: said below
        elif self.client_limited:
            notes.append("the client was the bottleneck: max_rate_rps is a lower bound for the server")
        elif ended := how_it_ended(best, worst, slo, self.searched, self.confirmed):
            notes.append(ended)
        return notes + self._caveats(best)

    def _caveats(self, best: float | None) -> list[str]:
        notes = []
        if self.stepped is not None:
            notes.append(f"every rate that passed failed its repeat; the search stepped down to {self.stepped:g}/s")
        if self.confirmed is False:
            notes.append(
                "the rate found failed its confirmation"
                + (f"; {best:g}/s passed once only (unconfirmed)" if best is not None else "")
            )
        if self.cut_short:
            notes.append(
                f"a trial ended undecided at its cap ([slo] duration_s, max_requests): too few requests to show "
                f"{self.slo.describe()}"
            )
        return notes
