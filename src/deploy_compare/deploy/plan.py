"""The run's stage plan: which stages run, in which order, under which names.

Apart from pipeline.py so that the time estimate (budget.py) reads the same plan the
pipeline runs without importing the pipeline that imports it.
"""

from __future__ import annotations


def served_plan(targets: list[str], repeat: int) -> list[tuple[str, str, int]]:
    """(stage name, target, repetition) in run order: every target once per repetition (A B A B).
    A target is a served key ("triton", "torchserve:onnx": deploy/pairs.py); a stage is named
    after it, "triton 2/3" when the run repeats."""
    return [
        (kind if repeat == 1 else f"{kind} {repetition}/{repeat}", kind, repetition)
        for repetition in range(1, repeat + 1)
        for kind in targets
    ]


def local_stage_name(repetition: int, repeat: int) -> str:
    """The in-process stage: "local", or "local 2/3" when the run repeats."""
    return "local" if repeat == 1 else f"local {repetition}/{repeat}"


def local_stage_names(repeat: int) -> list[str]:
    return [local_stage_name(r, repeat) for r in range(1, repeat + 1)]


def stage_plan(targets: list[str], repeat: int) -> list[tuple[str, str | None, int]]:
    """(stage name, target or None for the in-process stage, repetition) after the export, in run
    order: each repetition runs the in-process benchmark, then every target (local A B local A B).
    With one repetition: "local", then the targets by name."""
    served = served_plan(targets, repeat)
    plan: list[tuple[str, str | None, int]] = []
    for repetition in range(1, repeat + 1):
        plan.append((local_stage_name(repetition, repeat), None, repetition))
        plan += [stage for stage in served if stage[2] == repetition]
    return plan
