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
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)  # Paragraph | Bullets | Table | Figure | Code


@dataclass
class Document:
    title: str
    banner: list[Paragraph]  # shown above everything (incomplete run)
    sections: list[Section]
