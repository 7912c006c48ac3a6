"""`deploy-compare diff A B --html OUT.html`: the comparison of two runs as a page.

A view of report/diff.py's DiffReport (it judges; this only arranges): what got worse and what
got better beyond the noise of both runs, by how much, with each run's range over its
repetitions, then what moved within the noise (tied) and the rest (sizes, statuses, figures
one run lacks), rendered by the report's own HTML renderer.
"""

from __future__ import annotations

from .diff import BETTER, HIGHER, LOWER, OTHER, TIED, WORSE, DiffReport, DiffRow, change_text, rules_text, value_text
from .document import Document, Paragraph, Section, Table
from .render_html import render_html

HEADERS = ["figure", "A: median (min-max)", "B: median (min-max)", "change", "what happened", "rule", "note"]
SECTIONS = (  # outcome, section key, title, collapsed
    (WORSE, "worse", "Worse beyond the noise (regressions)", False),
    (BETTER, "better", "Better beyond the noise", False),
    (TIED, "tied", "Tied: moved within the noise", True),
    (OTHER, "other", "Sizes, statuses and figures one run lacks", True),
)


def what_happened(r: DiffRow) -> str:
    """ "slower", "faster", "higher", "lower", or "tied" for a figure inside the noise."""
    if r.outcome == TIED:
        return "tied"
    if r.outcome == OTHER or r.change_pct is None:
        return r.note or "-"
    up = r.change_pct > 0
    if r.better == LOWER:
        return "slower" if up else "faster"
    if r.better == HIGHER:
        return "higher" if up else "lower"
    return "up" if up else "down"  # accuracy points


def _table(rows: list[DiffRow], status: str) -> Table:
    return Table(
        HEADERS,
        [
            [
                r.key,
                value_text(r, "a"),
                value_text(r, "b"),
                change_text(r),
                what_happened(r),
                r.rule or "-",
                r.note or "-",
            ]
            for r in rows
        ],
        [status] * len(rows),
    )


def diff_document(report: DiffReport, describe_a: str, describe_b: str) -> Document:
    counts = {outcome: [r for r in report.rows if r.outcome == outcome] for outcome, *_ in SECTIONS}
    summary = (
        f"{len(counts[WORSE])} figure(s) worse beyond the noise, {len(counts[BETTER])} better, "
        f"{len(counts[TIED])} tied (moved within the noise), {len(counts[OTHER])} other."
    )
    sections = [
        Section(
            "summary",
            "What changed from A to B",
            [
                Paragraph(summary, lead="Verdict"),
                Paragraph(describe_a, lead="A"),
                Paragraph(describe_b, lead="B"),
                Paragraph(rules_text(report) + ".", tone="note"),
            ],
        )
    ]
    statuses = {WORSE: "FAILED", BETTER: "OK", TIED: "OK", OTHER: "SKIPPED"}
    for outcome, key, title, collapsed in SECTIONS:
        rows = counts[outcome]
        blocks: list = [_table(rows, statuses[outcome])] if rows else [Paragraph("None.", tone="note")]
        sections.append(Section(key, f"{title} ({len(rows)})", blocks, collapsed=collapsed))
    banner = [Paragraph(w, tone="warning") for w in report.warnings]
    return Document("deploy-compare diff: A vs B", banner, sections)


def render_diff_html(report: DiffReport, describe_a: str, describe_b: str) -> str:
    return render_html(diff_document(report, describe_a, describe_b))
