"""How sure a figure is: intervals for percentiles, the sequential p99-bound rule, ties.

Three questions every measured figure owes an answer to, answered without assumptions
about the latency distribution (latencies are skewed, multi-modal, heavy-tailed):

- Where is the true q-quantile? The count of samples below it is Binomial(n, q), so two
  order statistics bracket it with a known probability (`quantile_interval`). Too few
  samples for an end (a two-sided 95% interval for p99 needs 370) leaves it None:
  "the samples cannot bound it", never a number that only looks exact.
- Does "p99 <= bound" hold? MLPerf LoadGen's early-stopping rule: with t of n requests
  over the bound, it holds at confidence c once n >= h(t) + t, where h is the smallest
  value with I_p(h, t + 1) <= 1 - c (loadgen/early_stopping.cc). LoadGen looks once, at
  the end; a trial here looks after every completion and stops when decided, so the
  1 - c it may err is spent over the looks (`SequentialBound`).
- What does int8 cost in accuracy? A quantized file and the PyTorch model answer the same
  held-out samples, so only the discordant samples (one right, the other wrong) differ:
  Newcombe's hybrid score interval for paired proportions (1998, method 10) combines the
  Wilson intervals of both accuracies with the 2x2 table's correlation (`paired_difference`).
  It stays inside [-1, 1], is sensible at 0 discordant pairs and widens as samples shrink: on
  the 111 samples of an image preset at 224x224 one sample is 0.90 points, and the interval
  says how little a 2-point gap means.
- Is A faster than B? Only when their intervals over repetitions are apart AND the gap is
  at least a minimum effect (`compare`); otherwise a tie, said as such.

A pure module (stdlib + numpy, Python 3.9 syntax) so the standalone edge runner can put
intervals beside its percentiles too (edge/assemble.py PURE_MODULES): no scipy, even for
Student's t (student_t_quantile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

#: the default confidence of every interval (two-sided)
INTERVAL_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A two-sided interval; an end the samples cannot bound is None."""

    low: Optional[float]
    high: Optional[float]
    confidence: float

    @property
    def bounded(self) -> bool:
        return self.low is not None and self.high is not None

    def relative_width(self, estimate: Optional[float]) -> Optional[float]:
        """(high - low) / estimate; None when unbounded or the estimate is not positive."""
        if not self.bounded or not estimate or estimate <= 0:
            return None
        return (self.high - self.low) / estimate  # type: ignore[operator]

    def as_list(self) -> List[Optional[float]]:
        return [self.low, self.high]


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """P(Binomial(n, p) <= k) for k = 0..n; the pmf built by its ratio recursion in log space."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial_cdf: need n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
    if p in (0.0, 1.0):
        cdf = np.ones(n + 1)
        if p == 1.0:
            cdf[:n] = 0.0
        return cdf
    k = np.arange(n, dtype=np.float64)
    steps = np.log((n - k) / (k + 1.0)) + math.log(p) - math.log1p(-p)
    log_pmf = n * math.log1p(-p) + np.concatenate(([0.0], np.cumsum(steps)))
    pmf = np.exp(log_pmf - log_pmf.max())
    return np.minimum(np.cumsum(pmf) / pmf.sum(), 1.0)


def _binomial_cdf_at(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k) summing only the k + 1 terms (k small against n)."""
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    log_terms = []
    log_term = n * math.log1p(-p)  # k = 0
    for x in range(k + 1):
        log_terms.append(log_term)
        log_term += math.log((n - x) / (x + 1.0)) + math.log(p) - math.log1p(-p)
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in log_terms))


@lru_cache(maxsize=4096)
def quantile_ranks(n: int, q: float, confidence: float = INTERVAL_CONFIDENCE) -> Tuple[Optional[int], Optional[int]]:
    """1-based ranks (l, u) with P(x_(l) <= true q-quantile <= x_(u)) >= confidence.

    B, the count of samples below the quantile, is Binomial(n, q): l is the largest rank
    with P(B < l) <= alpha/2, u the smallest with P(B >= u) <= alpha/2. A rank outside
    1..n is None: that end is not bounded by n samples.
    """
    if not 0.0 < q < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"quantile_ranks: need 0 < q < 1 and 0 < confidence < 1, got q={q}, confidence={confidence}")
    if n <= 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    cdf = binomial_cdf(n, q)
    # l - 1 = the largest k with P(B <= k) <= tail; no such k: the lower end is unbounded.
    below = np.nonzero(cdf <= tail)[0]
    low = int(below[-1]) + 1 if below.size else None
    # u - 1 = the smallest k with P(B <= k) >= 1 - tail; u = n + 1 is past the samples.
    above = int(np.argmax(cdf >= 1.0 - tail - 1e-12))
    high = above + 1 if above + 1 <= n else None
    return low, high


def quantile_interval(samples, q: float, confidence: float = INTERVAL_CONFIDENCE, presorted: bool = False) -> Interval:
    """The distribution-free interval of the q-quantile (0 < q < 1) of `samples`, in their unit."""
    values = np.asarray(samples, dtype=np.float64)
    if not presorted:
        values = np.sort(values)
    low_rank, high_rank = quantile_ranks(int(values.size), q, confidence)
    return Interval(
        None if low_rank is None else float(values[low_rank - 1]),
        None if high_rank is None else float(values[high_rank - 1]),
        confidence,
    )


def samples_to_bound(q: float, confidence: float = INTERVAL_CONFIDENCE) -> int:
    """The fewest samples whose interval for the q-quantile has both ends (p99 at 95%: 370)."""
    tail = (1.0 - confidence) / 2.0
    # The upper end needs P(all n below) = q**n <= tail; the lower end needs (1-q)**n <= tail.
    n = max(math.ceil(math.log(tail) / math.log(q)), math.ceil(math.log(tail) / math.log(1.0 - q)))
    while quantile_ranks(n, q, confidence)[1] is None or quantile_ranks(n, q, confidence)[0] is None:
        n += 1
    return n


# ---- the p99 bound, decided as requests complete -------------------------------------


def _tail_at_most(t: int, n: int, p: float) -> float:
    """P(at most t of n requests over the bound) when each is under it with probability p:
    LoadGen's odds(h, t, p) = I_p(h, t + 1) with n = h + t."""
    return _binomial_cdf_at(t, n, 1.0 - p)


@lru_cache(maxsize=65536)
def min_passing_requests(t: int, percentile: float, confidence: float) -> int:
    """The fewest requests n such that t of them over the bound still shows "the `percentile`
    quantile is under the bound" at `confidence`: LoadGen's h(t) + t (459 at t=0 for p99, c=0.99)."""
    if t < 0:
        raise ValueError(f"min_passing_requests: t must be >= 0, got {t}")
    alpha = 1.0 - confidence
    # n grows about linearly in t with slope 1 / (1 - p): start from there, double until it passes.
    lo, hi = t + 1, 2 * (t + 1) + int(math.ceil((t + 1) / (1.0 - percentile)))
    while _tail_at_most(t, hi, percentile) > alpha:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if _tail_at_most(t, mid, percentile) <= alpha:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class SequentialBound:
    """Decides "the `percentile` latency is <= the bound at `confidence`" while a trial runs.

    LoadGen's rule checks once; this one is checked after every completed request, so its
    error is spent over the looks: the pass threshold for t over-bound requests uses the
    error (1 - confidence) * w_t with w_t = 1 / ((t + 1)(t + 2)), which sums to 1 over t. A
    trial can only pass through the first n at which its count t meets threshold(t), so
    the chance of a false pass is at most sum_t (1 - confidence) w_t = 1 - confidence
    (union bound; bench/statistics_coverage.py measures it). Failing needs no spending:
    it is decided when the over-bound count makes a pass impossible within `cap` requests.
    Requests of one open-loop trial are not independent (a slow second slows its
    neighbours), which this rule, like LoadGen's, does not model.
    """

    percentile: float = 0.99
    confidence: float = 0.99
    cap: int = 20000

    def __post_init__(self) -> None:
        if not 0.5 <= self.percentile < 1.0:
            raise ValueError(f"SequentialBound: percentile must be in [0.5, 1), got {self.percentile}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"SequentialBound: confidence must be in [0.5, 1), got {self.confidence}")
        if self.cap < 1:
            raise ValueError(f"SequentialBound: cap must be >= 1, got {self.cap}")

    def threshold(self, t: int) -> int:
        """Requests needed to pass with t of them over the bound."""
        return _pass_threshold(t, self.percentile, self.confidence)

    @property
    def max_over(self) -> int:
        """The most over-bound requests a trial of `cap` requests can have and still pass (-1: none)."""
        return _max_over(self.percentile, self.confidence, self.cap)

    def decide(self, completed: int, over: int) -> Optional[bool]:
        """True: the bound holds; False: it cannot be shown within the cap; None: go on."""
        if over > self.max_over:
            return False
        if completed >= self.threshold(over):
            return True
        if completed >= self.cap:
            return False
        return None

    def describe(self) -> str:
        return f"p{self.percentile * 100:g} <= bound at {self.confidence:.0%} confidence"


def _pass_threshold(t: int, percentile: float, confidence: float) -> int:
    spent = 1.0 - (1.0 - confidence) / ((t + 1) * (t + 2))
    return min_passing_requests(t, percentile, spent)


@lru_cache(maxsize=256)
def _max_over(percentile: float, confidence: float, cap: int) -> int:
    t = -1
    while _pass_threshold(t + 1, percentile, confidence) <= cap:
        t += 1
    return t


class SequentialTrial:
    """One trial's running decision: completions fed in SCHEDULED order, each over the bound
    or not (a failure or a drop is over). The open loop feeds it live to stop early; the
    analysis and the benchmark replay a trial through it (statistics.slo_trial_decision)."""

    def __init__(self, rule: SequentialBound) -> None:
        self.rule = rule
        self.completed = 0
        self.over = 0
        self.verdict: Optional[bool] = None

    def add(self, over: bool) -> Optional[bool]:
        """Count one more completion; the verdict (kept once decided: later ones do not count)."""
        if self.verdict is None:
            self.completed += 1
            self.over += bool(over)
            self.verdict = self.rule.decide(self.completed, self.over)
        return self.verdict


def replay(over_flags: Iterable[bool], rule: SequentialBound) -> SequentialTrial:
    """Completions replayed in order until the rule decides: the trial at that point (its
    verdict None when the flags ran out first)."""
    trial = SequentialTrial(rule)
    for flag in over_flags:
        if trial.add(bool(flag)) is not None:
            break
    return trial


# ---- repetitions: intervals over run-level figures, and ties --------------------------


def _student_t_cdf(x: float, df: int) -> float:
    """P(T <= x) for x >= 0: 1/2 plus the density integrated from 0 (Simpson's rule)."""
    grid = np.linspace(0.0, x, 4001)
    log_norm = math.lgamma((df + 1) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    pdf = np.exp(log_norm - (df + 1) / 2.0 * np.log1p(grid**2 / df))
    h = x / 4000.0
    return 0.5 + h / 3.0 * float(pdf[0] + pdf[-1] + 4.0 * pdf[1:-1:2].sum() + 2.0 * pdf[2:-1:2].sum())


def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 1/2) of Student's t with df degrees of freedom, numpy only (the
    edge runner has no scipy): bisection on the integrated density."""
    if not 0.5 < p < 1.0 or df < 1:
        raise ValueError(f"student_t_quantile: need 1/2 < p < 1 and df >= 1, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while _student_t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if _student_t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2.0


def mean_interval(
    values: Sequence[float], confidence: float = INTERVAL_CONFIDENCE, floor: Optional[float] = None
) -> Interval:
    """Student-t interval of the mean of run-level figures (one per repetition).

    One value cannot bound anything (both ends None). `floor`: the least value the figure can
    take (a rate: 0); the low end is cut there, which keeps the coverage (two repetitions'
    t-interval, on one degree of freedom, otherwise reaches below it)."""
    data = [float(v) for v in values if v is not None]
    if len(data) < 2:
        return Interval(None, None, confidence)
    mean = float(np.mean(data))
    sem = float(np.std(data, ddof=1)) / math.sqrt(len(data))
    half = student_t_quantile(0.5 + confidence / 2.0, len(data) - 1) * sem
    low = mean - half if floor is None else max(floor, mean - half)
    return Interval(low, mean + half, confidence)


def compare(
    a: Interval, b: Interval, a_estimate: Optional[float], b_estimate: Optional[float], min_effect: float = 0.05
) -> str:
    """ "lower" / "higher" (B against A) when the intervals are apart and the estimates differ by
    at least `min_effect` (a share of A), else "tied"; "unknown" when a figure is missing.

    Pass the intervals over repetitions where there are several, else the samples' own."""
    if a_estimate is None or b_estimate is None or a_estimate == 0:
        return "unknown"
    effect = (b_estimate - a_estimate) / abs(a_estimate)
    if abs(effect) < min_effect:
        return "tied"
    # An interval with an open end cannot be shown apart from anything: a tie.
    if not (a.bounded and b.bounded) or not (b.high < a.low or b.low > a.high):  # type: ignore[operator]
        return "tied"
    return "lower" if effect < 0 else "higher"


# ---- accuracy on the same samples ------------------------------------------------------


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of `a` minus accuracy of `b` on the same samples, in points, with its interval."""

    samples: int
    a_only_right: int  # discordant: a right, b wrong
    b_only_right: int  # discordant: b right, a wrong
    difference_points: float
    low_points: float
    high_points: float
    confidence: float = INTERVAL_CONFIDENCE


def _wilson(successes: int, n: int, z: float) -> Tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference(
    a_right: np.ndarray, b_right: np.ndarray, confidence: float = INTERVAL_CONFIDENCE
) -> PairedDifference:
    """Newcombe's interval for P(a right) - P(b right) from per-sample correctness of a and b."""
    a_right, b_right = np.asarray(a_right, bool), np.asarray(b_right, bool)
    if a_right.shape != b_right.shape or a_right.ndim != 1 or not len(a_right):
        raise ValueError(
            f"paired_difference: two equal, non-empty 1-D arrays needed, got {a_right.shape}, {b_right.shape}"
        )
    n = len(a_right)
    both = int(np.sum(a_right & b_right))
    a_only = int(np.sum(a_right & ~b_right))
    b_only = int(np.sum(~a_right & b_right))
    neither = n - both - a_only - b_only
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    l1, u1 = _wilson(both + a_only, n, z)
    l2, u2 = _wilson(both + b_only, n, z)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = 0.0 if margins == 0 else (both * neither - a_only * b_only) / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return PairedDifference(
        samples=n,
        a_only_right=a_only,
        b_only_right=b_only,
        difference_points=round(d * 100, 3),
        low_points=round(max(-1.0, low) * 100, 3),
        high_points=round(min(1.0, high) * 100, 3),
        confidence=confidence,
    )
