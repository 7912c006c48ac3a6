"""The fair fight: each served request split into what the runtime costs and what the stack
adds, and a stack x runtime table of SLO rates ([run] serve pairs), so the runtime and the
stack are two choices, not one.

A view of results.json: each target's `split` (deploy/split.py) and `slo`; nothing measured here.
"""

from __future__ import annotations

from ..deploy.results import RunResults, ServedResult
from ..servers.registry import stacks
from .document import Bullets, Paragraph, Section, Table
from .fmt import DASH, getf, ms, num
from .names import target_label, target_name
from .verdicts import maintenance_notes, splits


def split_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s, split in splits(results):
        each = split.get("added_each_ms") or []
        low, high = (min(each), max(each)) if each else (None, None)
        added = ms(getf(split, "added_ms")) + (f" ({ms(low)}-{ms(high)})" if each and low != high else "")
        rows.append(
            [
                target_label(s),
                str(split.get("artifact")),
                str(split.get("threads")),
                ms(getf(split, "client_p50_ms")),
                ms(getf(split, "runtime_ms")),
                ms(getf(split, "queue_ms")),
                ms(getf(split, "compute_ms")),
                ms(getf(split, "handler_ms")),
                ms(getf(split, "stack_ms")),
                added,
            ]
        )
        statuses.append(s.status)
    return Table(
        [
            "target",
            "artifact",
            "threads",
            "served p50 ms",
            "in-process p50 ms",
            "queue ms",
            "server compute ms",
            "handler ms",
            "rest ms",
            "stack adds ms",
        ],
        rows,
        statuses,
    )


def _rate(s: ServedResult) -> str:
    if s.status != "OK":
        return s.status
    rate = getf(s.slo, "max_rate_rps")
    if rate is not None:
        return f"{num(rate)} req/s"
    return "no rate met the bound" if isinstance(s.slo, dict) else DASH


def slo_matrix(results: RunResults) -> Table:
    """Stacks (rows) x artifacts served (columns): each pair's SLO rate, "-" where not measured."""
    measured = [s for s in results.served if s.status == "OK"]  # a SKIPPED stack is in the targets table
    artifacts = list(dict.fromkeys(s.artifact for s in measured if s.artifact))
    known = stacks()
    by_stack: dict[str, dict[str, str]] = {}
    for s in measured:
        by_stack.setdefault(s.target, {})[s.artifact or ""] = _rate(s)
    rows = [
        [target_name(stack), *(cells.get(a, DASH) for a in artifacts)]
        for stack, cells in sorted(by_stack.items(), key=lambda kv: known[kv[0]].order if kv[0] in known else 999)
    ]
    return Table(["stack", *artifacts], rows)


def fair_fight_section(results: RunResults) -> Section | None:
    """None when the run served nothing."""
    if not results.served:
        return None
    bound = getf(results.settings, "slo", "p99_bound_ms")
    blocks: list = [
        Paragraph(
            "At concurrency 1: the same artifact's in-process p50 at the same threads (the runtime), the "
            "server's own queue and compute means, and the rest (protocol, HTTP, serialization). "
            "Stack adds = served p50 - in-process p50; handler = server compute - in-process mean (the "
            "stack's work inside its own compute figure); rest = client mean - queue - compute (means: "
            "the server's counters only add up).",
            lead="Runtime and stack, apart",
        ),
        split_table(results),
        Paragraph(
            "The highest rate with p99 (failures counted)"
            + (f" <= {ms(bound)} ms" if bound is not None else " under the bound")
            + " for each stack and each artifact it served ([run] serve): a column holds the runtime fixed.",
            lead="Stack x runtime",
        ),
        slo_matrix(results),
    ]
    notes = maintenance_notes(*(s.target for s in results.served), *(s.artifact for s in results.served))
    if notes:
        blocks += [Paragraph("Beside the figures:", lead="Maintenance"), Bullets(notes)]
    return Section("fairfight", "Same runtime, every stack", blocks)
