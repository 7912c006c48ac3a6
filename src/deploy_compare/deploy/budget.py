"""How long the served stages still take, estimated from the settings alone (progress lines).

Runs stop when their answer is known (issue 23), so this is an expectation, not a bound:
- a closed-loop level with [load] precision set runs from its minimum (warm-up + duration_s)
  towards its cap (max_duration_s) until its p50 and p99 intervals are narrow: counted at
  the midpoint (without precision: its minimum);
- an SLO trial stops when the sequential rule decides, about 530 requests for a clean pass,
  at most its cap (warm-up + [slo] duration_s): counted at its warm-up + half its cap, plus
  the pause between trials;
- every SLO search at its max_trials plus its confirmation trials; the tune stage in a
  target's first repetition only. A stack that passes the SLO only at a few requests/s (a
  big model, a batch of 32) takes its trials to their cap: longer than this estimate. Where a search starts (half the
concurrency-1 throughput, or for a further batch size without one the first size's SLO rate
scaled by the batch ratio: scenario.batch_start_rate) saves trials in practice, not in this
bound; a batch size's trials run at low rates, where min_requests (not duration_s) sets their
length. Export and the in-process benchmark are not estimated from the settings (their cost
depends on the model): a repeated run counts each in-process repetition left at the first
one's measured duration. Once served stages have completed, the served estimate is scaled by
their pace (measured over estimated seconds): a big model's stretched trials and slow startups
then show in the estimate of the stages left (never below the settings' figure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import DeployCompareError
from .config import RunConfig
from .plan import local_stage_names, served_plan

#: start to healthy, a round figure for the stacks measured here (TorchServe ~8 s, Triton and
#: the FastAPI service ~2 s natively)
STARTUP_S = 8.0


def served_seconds(config: RunConfig, kind: str, *, tuning: bool = True) -> float:
    """One served stage: its sweeps and SLO searches at every batch size, a sweep per further
    encoding, then (`tuning`: the target's first repetition) its tuning."""
    from ..servers.registry import get
    from .served import other_levels
    from .tune import grid_for, tune_settings

    levels, closed, open_loop, slo = config.load_settings()
    run_s = closed.warmup_s + closed.duration_s
    if closed.precision is not None:
        run_s = (run_s + closed.max_duration_s) / 2
    trial_s = open_loop.warmup_s + open_loop.duration_s / 2 + slo.pause_s
    search_s = (slo.max_trials + slo.confirm_trials) * trial_s
    sizes = config.batch_sizes()
    seconds = STARTUP_S + len(levels) * run_s + search_s
    seconds += (len(sizes) - 1) * (len(config.batch_levels()) * run_s + search_s)
    # each further encoding the stack speaks: a sweep (at most: a launcher may lack a gRPC port);
    # slo_encoding "best" sweeps every encoding first, then the chosen one's levels again
    spoken = [e for e in config.encodings() if get(kind).encoding_reason(e) is None]
    best_first = config.slo_encoding() == "best" and len(spoken) > 1
    seconds += (len(spoken) if best_first else max(len(spoken) - 1, 0)) * len(other_levels(levels)) * run_s
    tune = tune_settings(config)
    if tuning and tune.enabled:
        settings = len(grid_for(kind, config, tune)) + (0 if tune.batch_size in sizes else 1)
        seconds += settings * (STARTUP_S + run_s + search_s)  # each setting: concurrency 1, then its search
    return seconds


def time_left(
    config: RunConfig,
    stages: Iterable[str],
    local_stage_s: float | None = None,
    served_done: Mapping[str, float] | None = None,
) -> str:
    """`served stages: about 12 min left` for the stages still to run (this one included).
    Stage names are the served plan's ("triton 2/3" when the run repeats): each maps to its
    target and repetition, so every repetition left counts once and tuning only in the first.
    `local_stage_s`: how long the first in-process repetition took; each in-process repetition
    left ("local 2/3") is counted at that (the settings cannot say: it depends on the model).
    `served_done`: the seconds each completed served stage took; the estimate of those left
    is scaled by their pace (their seconds over their estimate)."""
    stages = list(stages)
    try:
        pairs = {p.key: p for p in config.run.pairs()}
        plan = {name: (pairs[key], rep) for name, key, rep in served_plan(list(pairs), config.run.repeat)}

        def estimate(name: str) -> float:
            pair, repetition = plan[name]
            return served_seconds(config, pair.stack, tuning=repetition == 1 and pair.own)

        total = sum(estimate(name) for name in stages if name in plan)
        done = {name: s for name, s in (served_done or {}).items() if name in plan}
        estimated_done = sum(estimate(name) for name in done)
    except DeployCompareError:
        return ""  # settings are validated before the run starts; never fail a progress line
    # Never below the settings' figure: a stack turned away early (its one-request p99 already
    # over the SLO bound) takes a fraction of its estimate and says nothing of the others.
    pace = max(1.0, sum(done.values()) / estimated_done) if done and estimated_done > 0 else 1.0
    total *= pace
    served = "estimated from the settings" + (
        f" x{pace:.1f}, the pace of the {len(done)} served stage(s) done" if pace > 1.0 else ""
    )
    local_left = len(set(stages) & set(local_stage_names(config.run.repeat)))
    each = local_stage_s or 0.0
    local_s = local_left * each
    if total + local_s <= 0:
        return ""
    if local_s <= 0:
        return f"served stages: about {total / 60:.0f} min left, {served}"
    return (
        f"about {(total + local_s) / 60:.0f} min left: served stages {served}, "
        f"{local_left} in-process repetition(s) at the first one's {each / 60:.1f} min"
    )
