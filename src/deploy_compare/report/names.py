"""Display names and small selectors over a RunResults, shared by verdicts, tables and plots."""

from __future__ import annotations

from typing import Any

from ..deploy.results import RunResults, ServedResult
from ..repeats import by_concurrency, combined_bench_rows, median_point, repetition
from .fmt import ascending, get, getf

QUANTIZED_VARIANTS = ("fp16", "dynamic_int8", "int8", "int8_selective")


def mode_word(mode: str | None) -> str | None:
    """ "docker" / "native" from a mode or a launcher class name (TorchServeNative -> native)."""
    if not mode:
        return None
    low = mode.lower()
    return next((word for word in ("docker", "native") if word in low), mode)


def target_name(target: str) -> str:
    """A served target's label from the stack registry (the raw name for an unknown one)."""
    from ..servers.registry import labels

    return labels().get(target, target)


#: the runtime that runs an artifact, by the artifact's name (the exporters name each after its format)
RUNTIME_NAMES = (
    ("tflite", "LiteRT"),
    ("litert", "LiteRT"),
    ("onnx", "ONNX Runtime"),
    ("torchscript", "TorchScript"),
    ("aoti", "AOTInductor"),
    ("savedmodel", "TensorFlow"),
)


def runtime_name(artifact: str | None) -> str:
    """ "ONNX Runtime", "LiteRT int8": the runtime an artifact runs in, and int8 when quantized."""
    if not artifact:
        return "?"
    name = next((label for prefix, label in RUNTIME_NAMES if artifact.startswith(prefix)), artifact)
    return f"{name} int8" if "int8" in artifact and name != artifact else name


def stack_name(target: str) -> str:
    """A stack's short name: its registry label up to the first comma or " + " ("FastAPI")."""
    return target_name(target).split(",")[0].split(" + ")[0].strip()


def target_label(s: ServedResult) -> str:
    """The short label every table and chart uses: stack and runtime, "Triton · ONNX Runtime"
    (full_label, with the mode, is in the report's legend)."""
    return f"{stack_name(s.target)} · {runtime_name(s.artifact)}" if s.artifact else stack_name(s.target)


def full_label(s: ServedResult) -> str:
    """The stack's full label for the mode it ran in: "Triton, Python backend + ONNX Runtime (native)"."""
    from ..servers.registry import stacks

    mode = mode_word(s.mode)
    stack = stacks().get(s.target)
    name = stack.label_for(mode) if stack else s.target
    if s.key != s.target:  # a stack serving another artifact than its own ([run] serve)
        name = f"{name} serving {s.artifact}"
    return f"{name} ({mode})" if mode else name


def local_label(row: dict[str, Any]) -> str:
    threads = get(row, "threads")
    plural = "" if threads == 1 else "s"
    return f"in-process {get(row, 'artifact')} ({get(row, 'runtime') or '?'}, {threads} thread{plural})"


def is_local_device(row: dict[str, Any]) -> bool:
    return get(row, "device") in (None, "local")


def local_rows(results: RunResults, profile: str | None = None) -> list[dict[str, Any]]:
    """This machine's in-process rows, one per (artifact, profile, threads): with repetitions
    (`run --repeat`), each figure the median over the OK ones (repeats.combine_bench;
    repeats.bench_repetitions has them for spreads)."""
    return [
        r
        for r in combined_bench_rows(r for r in results.local if isinstance(r, dict) and is_local_device(r))
        if profile is None or r.get("profile") == profile
    ]


def ok_local(results: RunResults, profile: str | None = None) -> list[dict[str, Any]]:
    return [r for r in local_rows(results, profile) if r.get("status") == "OK"]


def sweep_repetitions(s: ServedResult) -> dict[int, list[dict[str, Any]]]:
    """Every closed-loop result with a concurrency, grouped by concurrency (ascending), each
    group in repetition order."""
    return by_concurrency(p for p in s.sweep if isinstance(p, dict))


def sweep_points(s: ServedResult) -> list[dict[str, Any]]:
    """One closed-loop result per concurrency, by increasing concurrency: with repetitions,
    each number is the median over them (repeats.median_point); sweep_repetitions has them all."""
    return [median_point(group) for group in sweep_repetitions(s).values()]


def slo_trials(s: ServedResult) -> list[dict[str, Any]]:
    trials = get(s.slo, "trials")
    if not isinstance(trials, list):
        return []
    return sorted(
        (t for t in trials if isinstance(t, dict) and getf(t, "rate_rps") is not None),
        key=lambda t: (repetition(t), ascending(getf(t, "rate_rps"))),
    )


def lowest_rate_trials(s: ServedResult, at_least: float = 0.0) -> list[dict[str, Any]]:
    """The SLO trials (every repetition's) at the lowest offered rate >= `at_least`."""
    trials = [t for t in slo_trials(s) if (getf(t, "rate_rps") or 0.0) >= at_least]
    lowest = min((getf(t, "rate_rps") or 0.0 for t in trials), default=None)
    return [t for t in trials if getf(t, "rate_rps") == lowest]


def slo_bracket(slo: Any) -> str:
    """ "[550, 600)": the lowest rate any repetition passed with, the highest any failed at (runs
    from before repeats: the one search's [max_rate_rps, lowest_failing_rate_rps))."""
    repeated = isinstance(slo, dict) and "repetitions" in slo
    low = getf(slo, "rate_min_rps" if repeated else "max_rate_rps")
    high = getf(slo, "bracket_high_rps" if repeated else "lowest_failing_rate_rps")
    if low is None:
        return "-" if high is None else f"none passed; [0, {_whole(high)})"
    return f"[{_whole(low)}, {'none failed' if high is None else _whole(high)})"


def _whole(value: float) -> str:
    """562.5 -> "562.5", 600.0 -> "600" (bisected rates keep their half)."""
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def reference_accuracy(results: RunResults) -> float | None:
    ref = getf(results.model, "reference_accuracy")
    if ref is not None:
        return ref
    for entry in results.artifacts.values():
        ref = getf(entry, "parity", "reference_accuracy")
        if ref is not None:
            return ref
    return None


def artifact_accuracy(entry: Any) -> float | None:
    return getf(entry, "parity", "accuracy")


def tflite_artifacts(results: RunResults) -> dict[str, dict[str, Any]]:
    return {
        name: e for name, e in sorted(results.artifacts.items()) if isinstance(e, dict) and e.get("format") == "tflite"
    }


def footprint_row(results: RunResults, artifact: str) -> dict[str, Any] | None:
    """The local row that best shows an artifact's on-device cost: edge profile, fewest threads."""
    rows = [r for r in ok_local(results) if r.get("artifact") == artifact]
    if not rows:
        return None
    return min(rows, key=lambda r: (r.get("profile") != "edge", getf(r, "threads") or 0))
