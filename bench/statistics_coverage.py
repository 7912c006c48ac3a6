"""Are the statistics right? Simulated runs from known latency distributions.

    .venv/bin/python bench/statistics_coverage.py            # 1,000 runs per case
    .venv/bin/python bench/statistics_coverage.py --runs 200 # quicker

Two checks, through the very functions the load client's analysis and the SLO trials
call, not copies: statistics.latency_summary (the intervals every percentile carries) and
statistics.slo_trial_decision (the verdict the open loop stops by, replayed):

1. Coverage: per distribution (lognormal; a bimodal one whose slow mode holds 1% of the
   requests) and sample count, the share of runs whose 95% interval of p50 / p90 / p99
   holds the true percentile. The rule holds when every share is >= 94%. A run whose
   interval has an open end (too few samples) counts as covering; the share of such
   runs is printed beside it, so an interval that covers only by being open shows.
2. The sequential p99-bound rule at confidence 0.99: the share of trials that PASS when
   the true p99 is exactly the bound (over-bound probability 1%: the worst case of a
   false pass), and just above it (1.5%); it holds when both are <= 1%. For scale, the
   requests a pass takes when the true p99 is well under the bound (0.2% over).

Exits 1 when a rule fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np

from deploy_compare.confidence import SequentialBound
from deploy_compare.statistics import latency_summary, slo_trial_decision

QUANTILES = (0.5, 0.9, 0.99)
COVERAGE_FLOOR = 0.94
FALSE_PASS_CEILING = 0.01


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(mean=1.0, sigma=0.5, size=n)


def lognormal_truth(q: float) -> float:
    from scipy import stats

    return float(stats.lognorm.ppf(q, s=0.5, scale=np.exp(1.0)))


SLOW_SHARE = 0.01


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A fast mode around 2 ms and, for 1% of requests, a slow one around 40 ms (a GC pause)."""
    slow = rng.random(n) < SLOW_SHARE
    return np.where(slow, rng.normal(40.0, 5.0, n), rng.gamma(shape=8.0, scale=0.25, size=n))


def bimodal_truth(q: float) -> float:
    from scipy import optimize, stats

    def cdf(x: float) -> float:
        return (1 - SLOW_SHARE) * stats.gamma.cdf(x, 8.0, scale=0.25) + SLOW_SHARE * stats.norm.cdf(x, 40.0, 5.0)

    # The smallest x with F(x) >= q (F is flat between the modes: that is where p99 sits).
    return float(optimize.brentq(lambda x: cdf(x) - q, 0.0, 200.0, xtol=1e-9))


def coverage(draw: Callable, truth: Callable, n: int, runs: int, seed: int) -> dict[float, tuple[float, float]]:
    """q -> (share of runs whose interval holds the truth, share whose interval is open)."""
    rng = np.random.default_rng(seed)
    truths = {q: truth(q) for q in QUANTILES}
    held = dict.fromkeys(QUANTILES, 0)
    open_ended = dict.fromkeys(QUANTILES, 0)
    for _ in range(runs):
        # the draws are milliseconds; the summary takes nanoseconds and reports ms
        summary = latency_summary(draw(rng, n) * 1e6)
        for q in QUANTILES:
            low, high = getattr(summary, f"p{q * 100:g}_ci_ms")
            held[q] += (-np.inf if low is None else low) <= truths[q] <= (np.inf if high is None else high)
            open_ended[q] += low is None or high is None
    return {q: (held[q] / runs, open_ended[q] / runs) for q in QUANTILES}


BOUND_MS = 50.0


def pass_rate(over_probability: float, runs: int, cap: int, seed: int) -> tuple[float, float]:
    """(share of trials that passed, median requests to a decision). Each trial: latencies in
    scheduled order, a share `over_probability` over the bound (half of those failures, which
    count as over too), decided by the open loop's own verdict function."""
    rule = SequentialBound(percentile=0.99, confidence=0.99, cap=cap)
    rng = np.random.default_rng(seed)  # which requests are over: the stream the rule is judged on
    shape = np.random.default_rng(seed + 1)  # their latencies, and which of the over ones failed
    passed, taken = 0, []
    for _ in range(runs):
        over = rng.random(cap) < over_probability
        within = shape.uniform(0.05, 1.0, cap)
        latencies_ns = np.where(over, shape.uniform(1.01, 3.0, cap), within) * BOUND_MS * 1e6
        ok = ~(over & (shape.random(cap) < 0.5))
        decision = slo_trial_decision(latencies_ns, ok, BOUND_MS, rule)
        passed += decision.verdict is True
        taken.append(decision.requests)
    return passed / runs, float(np.median(taken))


def _share_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of a share k/n: how far the measured rate may be from the true one."""
    from scipy import stats

    low = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))
    return low, high


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="simulated runs per case (default 1000)")
    parser.add_argument("--cap", type=int, default=20000, help="an SLO trial's request cap (default 20000)")
    args = parser.parse_args()
    failures = []
    print(f"1. coverage of the 95% intervals, {args.runs} runs per case (share covering; share open-ended)")
    for name, draw, truth in (("lognormal", lognormal, lognormal_truth), ("bimodal 1% slow", bimodal, bimodal_truth)):
        for n in (200, 1000, 5000):
            shares = coverage(draw, truth, n, args.runs, seed=n)
            cells = "  ".join(f"p{q * 100:g} {held:.1%} ({opened:.0%} open)" for q, (held, opened) in shares.items())
            print(f"  {name:16} n={n:5d}  {cells}")
            failures += [
                f"{name} n={n} p{q * 100:g} covered {held:.1%}"
                for q, (held, _) in shares.items()
                if held < COVERAGE_FLOOR
            ]
    print(f"2. the sequential p99-bound rule at 99% confidence, cap {args.cap} requests, {args.runs} trials per case")
    for over, what in ((0.01, "true p99 = bound"), (0.015, "true p99 over the bound"), (0.002, "true p99 well under")):
        share, median_used = pass_rate(over, args.runs, args.cap, seed=int(over * 1e4))
        low, high = _share_interval(round(share * args.runs), args.runs)
        print(
            f"  {what:24} over-bound probability {over:.1%}: passed {share:.2%} "
            f"(95% interval {low:.2%}-{high:.2%}), median requests to decide {median_used:.0f}"
        )
        if over >= 0.01 and share > FALSE_PASS_CEILING:
            failures.append(f"false passes {share:.2%} at over-bound probability {over:.1%}")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all rules hold" if not failures else f"{len(failures)} rule(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
