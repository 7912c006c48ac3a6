"""The report's first screen: one card per objective (the path to take, spelled stack + runtime +
encoding, its figure and how sure it is, the runner-up and why it lost), the chart that
supports the headline answer, and the legend of the short labels.

Cards only read the verdicts (report/verdicts.py ranks and judges ties); nothing is judged here.
"""

from __future__ import annotations

from ..deploy.results import RunResults
from . import plots_stacks
from .document import Card, Cards, Figure, Paragraph, Section, Table
from .encodings import cells, slo_encoding_note
from .fmt import DASH, get, text
from .names import full_label, target_label
from .verdicts import Candidate, Verdict, all_verdicts

#: verdict key -> (the objective as the first screen asks it, the section holding its rows, what a
#: runner-up is when it lost: "slower" ...)
OBJECTIVES = (
    ("serving_latency", "Lowest single-request latency", "served", "slower"),
    ("throughput", "Highest rate within the SLO", "served", "a lower rate"),
    ("cost", "Lowest cost per million inferences", "server", "costlier"),
    ("footprint", "Smallest edge footprint", "edge", "larger"),
    ("accuracy", "int8 accuracy cost", "artifacts", "loses more"),
)
#: verdicts whose figures carry an uncertainty and call overlapping ones a tie (a file size is exact)
UNCERTAIN = ("serving_latency", "throughput", "cost", "accuracy")


def why_it_lost(v: Verdict, lead: Candidate, runner: Candidate, worse: str) -> str:
    """ "Runner-up: Triton · ONNX Runtime, p50 2.10 ms (...): 1.40x the leader's, slower." or the tie."""
    figure = f"{runner.label}, {runner.figure} ({runner.uncertainty})"
    if runner.name in v.tied:
        return f"Tied with {figure}: within the uncertainty, not a loss."
    if lead.value > 0 and runner.value > 0 and v.key != "accuracy":
        how = f"{runner.value / lead.value:.2f}x the leader's"
    else:
        how = f"{runner.value - lead.value:+.2f} points against the leader"  # accuracy: signed points
    apart = " beyond the uncertainty" if v.key in UNCERTAIN else ""
    return f"Runner-up: {figure}: {how}, {worse}{apart}."


def card(v: Verdict, objective: str, link: str, worse: str, results: RunResults) -> Card:
    if not v.ranked:
        return Card(objective, [], "", "", "No path to recommend.", v.answer, link=link)
    lead = v.ranked[0]
    runner = next((c for c in v.ranked[1:] if c.name != lead.name), None)
    detail = ""
    if v.key == "throughput":
        served = next((s for s in results.served if s.key == lead.name), None)
        chosen_by = get(results.settings or {}, "load", "slo_encoding")
        detail = slo_encoding_note(served, chosen_by) if served is not None else ""
    if v.winner is None and not v.tied:  # ranked, yet no answer (a lower bound only): the verdict says why
        detail = "; ".join(x for x in (v.answer, detail) if x)
    runner_text = (
        why_it_lost(v, lead, runner, worse)
        if runner is not None
        else "No runner-up: the only path measured for this objective."
    )
    tied = runner is not None and runner.name in v.tied
    return Card(objective, list(lead.path), lead.figure, lead.uncertainty, runner_text, detail, tied, link)


def cards(results: RunResults) -> Cards:
    verdicts = {v.key: v for v in all_verdicts(results)}
    return Cards([card(verdicts[key], objective, link, worse, results) for key, objective, link, worse in OBJECTIVES])


def legend_table(results: RunResults) -> Table:
    """What each short label stands for: the stack's full label and mode, the artifact served and
    the encodings measured."""
    rows, statuses = [], []
    for s in results.served:
        encodings = [str(c.get("encoding")) for c in cells(s) if c.get("status") == "OK"]
        rows.append(
            [
                target_label(s),
                full_label(s),
                text(s.artifact),
                ", ".join(encodings) if s.status == "OK" else f"{s.status}: {text(s.reason)}",
                (s.encoding or "json") if isinstance(s.slo, dict) else DASH,
            ]
        )
        statuses.append(s.status)
    return Table(
        ["short label", "stack (mode)", "artifact served", "encodings measured", "SLO search on"], rows, statuses
    )


def supporting_figure(results: RunResults) -> Figure | Paragraph:
    """The chart behind the headline: SLO rate per stack; without any rate, latency per stack."""
    png = plots_stacks.slo_rates(results)
    if png:
        return Figure(
            "slo_rates",
            "Highest rate within the SLO per stack: the bar is the rate, the line its bracket [pass, fail)",
            png,
            "the highest request rate each stack sustained within the p99 bound, with its bracket",
        )
    png = plots_stacks.latency_by_stack(results)
    if png:
        return Figure(
            "answer_latency",
            "Latency per stack at one load (no stack has an SLO rate)",
            png,
            "latency percentiles of each stack at one concurrency",
        )
    return Paragraph("No chart: no served stack was measured.", tone="note")


def first_screen(results: RunResults) -> Section:
    blocks: list = [
        cards(results),
        supporting_figure(results),
    ]
    if results.served:
        blocks.append(legend_table(results))
    return Section("answer", "The answer", blocks)
