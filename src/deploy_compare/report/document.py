"""The report as a neutral document (sections of paragraphs, tables, figures).

Built once from results.json (build.py), then serialized by render_md and render_html,
so both views always carry the same rows and sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Paragraph:
    text: str
    tone: str = "plain"  # plain | note | warning (warning: incomplete run, failures)
    lead: str | None = None  # bold lead-in, e.g. the question a verdict answers


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    #: per row: the status shown in it (OK, SKIPPED, FAILED, ...), used for highlighting
    statuses: Sequence[str | None] = field(default_factory=list)  # read-only: builders pass list[str]
    caption: str | None = None


@dataclass
class Figure:
    key: str  # stable identifier (file stem, HTML id)
    title: str
    png: bytes
    alt: str


@dataclass
class Code:
    text: str
    summary: str  # shown collapsed in HTML


@dataclass
class Card:
    """One objective's answer on the first screen: the path, its figure and how sure it is,
    and the runner-up with why it lost (or that it tied)."""

    objective: str
    path: list[tuple[str, str]]  # (role, value): stack, runtime, encoding (or artifact, variant)
    figure: str  # "" when nothing answered: `detail` says why
    uncertainty: str
    runner_up: str  # "Triton · ONNX Runtime: p50 2.1 ms, 1.4x the leader's" / "tied with ..." / why none
    detail: str = ""  # one more line (which encoding the SLO search ran on and JSON's cost)
    tied: bool = False
    link: str | None = None  # the section holding its rows


@dataclass
class Cards:
    cards: list[Card]


@dataclass
class Details:
    """Rows most readers skip: collapsed in HTML, a bold lead-in in Markdown."""

    summary: str
    blocks: list = field(default_factory=list)


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)  # Paragraph | Bullets | Table | Figure | Code | Cards | Details
    collapsed: bool = False  # HTML: a <details> the reader opens; Markdown keeps the heading


@dataclass
class Document:
    title: str
    banner: list[Paragraph]  # shown above everything (incomplete run)
    sections: list[Section]
