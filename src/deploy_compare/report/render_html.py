"""report.html: the Document as one self-contained page (inline CSS, plots as base64 PNG,
no script, no external URL), readable offline and safe to attach to a ticket."""

from __future__ import annotations

import base64
from html import escape

from .document import Bullets, Card, Cards, Code, Details, Document, Figure, Paragraph, Section, Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 1.5rem auto;
       max-width: 1360px; padding: 0 1rem; color: #1d232a; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .3rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 0; display: inline; }
section > h2 { display: block; border-bottom: 2px solid #d6dde5; padding-bottom: .2rem; margin-top: 1.5rem; }
details.section { border-top: 1px solid #d6dde5; padding: .5rem 0; }
details.section > summary { cursor: pointer; padding: .2rem 0; }
details.section[open] > summary { border-bottom: 2px solid #d6dde5; margin-bottom: .5rem; }
details.rows > summary { cursor: pointer; color: #0b5cad; margin: .4rem 0; }
nav { font-size: .9rem; margin-bottom: 1rem; }
nav a { margin-right: .9rem; display: inline-block; }
a { color: #0b5cad; }
.banner { background: #fde2e1; border: 2px solid #c62828; color: #7f1010; padding: .7rem 1rem;
          font-weight: 600; border-radius: 4px; }
.warning { background: #fff4e5; border-left: 4px solid #e08a00; padding: .4rem .7rem; }
.note { color: #4a5561; font-size: .92rem; }
.lead { font-weight: 650; }
#verdicts p { margin: .8rem 0 .2rem; }
#verdicts ul { margin-top: .2rem; font-size: .93rem; }
/* The first screen: one card per objective, as many per row as fit (one on a phone). */
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 250px), 1fr)); gap: .8rem;
         margin: .8rem 0; }
.card { border: 1px solid #d6dde5; border-radius: 6px; padding: .6rem .8rem; background: #fbfcfd; }
.card h3 { font-size: .95rem; margin: 0 0 .4rem; color: #4a5561; }
.card p { margin: .25rem 0; font-size: .88rem; }
.card .figure { font-size: 1.25rem; font-weight: 650; margin: .3rem 0 0; }
.card .sure, .card .runner, .card .detail { color: #4a5561; }
.card.tied { border-color: #e08a00; }
.chip { display: inline-block; background: #e8eef5; border-radius: 3px; padding: .05rem .4rem; margin: 0 .2rem .2rem 0;
        font-weight: 600; font-size: .85rem; }
.chip small { font-weight: 400; color: #4a5561; margin-right: .25rem; }
.badge { background: #fff4e5; color: #8a5200; border-radius: 3px; padding: 0 .3rem; font-size: .8rem; }
/* A table scrolls inside its own box, at most a screen high so its horizontal scrollbar is in
   view; the header row and the first column (what the row is) stay put. Cells wrap, and long
   text keeps a readable width instead of a column one word wide. */
.scroll { overflow: auto; max-height: 85vh; margin: .6rem 0 1rem; border: 1px solid #d6dde5; max-width: 100%;
          width: fit-content; }
table { border-collapse: separate; border-spacing: 0; font-size: .82rem; }
th, td { border-right: 1px solid #d6dde5; border-bottom: 1px solid #d6dde5; padding: .2rem .35rem;
         text-align: left; vertical-align: top; }
th { background: #eef2f6; position: sticky; top: 0; z-index: 2; min-width: 3rem; }
td { max-width: 30rem; overflow-wrap: break-word; background: #fff; }
td.long { min-width: 10rem; overflow-wrap: anywhere; }
th:first-child, td:first-child { position: sticky; left: 0; z-index: 1; max-width: 12rem; }
th:first-child { z-index: 3; }
tr.st-skipped td { background: #f4f4f4; color: #555; }
tr.st-failed td, tr.st-interrupted td { background: #fde2e1; }
tr.st-not-run td { background: #f4f4f4; color: #555; font-style: italic; }
tr.st-warn td { background: #fff8e6; }
td.status { font-weight: 650; white-space: nowrap; }
caption { text-align: left; font-size: .85rem; color: #4a5561; padding: .2rem .4rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e8ee; }
figcaption { font-size: .9rem; color: #4a5561; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .8rem; }
"""

STATUS_WORDS = ("OK", "SKIPPED", "FAILED", "INTERRUPTED", "NOT RUN")
LONG_CELL = 60  # characters: a cell this long is prose (a reason, a note) and keeps a readable width


def _status_class(status: str | None) -> str:
    if not status or status == "OK":
        return ""
    return f' class="st-{escape(status.lower().replace(" ", "-"))}"'


def _paragraph(p: Paragraph) -> str:
    lead = f'<span class="lead">{escape(p.lead)}:</span> ' if p.lead else ""
    cls = {"warning": ' class="warning"', "note": ' class="note"'}.get(p.tone, "")
    return f"<p{cls}>{lead}{escape(p.text)}</p>"


def _cell(c: str) -> str:
    if c in STATUS_WORDS:
        return f'<td class="status">{escape(c)}</td>'
    return f'<td class="long">{escape(c)}</td>' if len(c) > LONG_CELL else f"<td>{escape(c)}</td>"


def _card(c: Card) -> str:
    chips = "".join(f'<span class="chip"><small>{escape(role)}</small>{escape(value)}</span>' for role, value in c.path)
    tied = ' <span class="badge">tied</span>' if c.tied else ""
    parts = [f"<h3>{escape(c.objective)}{tied}</h3>"]
    if chips:
        parts.append(f'<p class="path">{chips}</p>')
    if c.figure:
        parts += [f'<p class="figure">{escape(c.figure)}</p>', f'<p class="sure">{escape(c.uncertainty)}</p>']
    parts.append(f'<p class="runner">{escape(c.runner_up)}</p>')
    if c.detail:
        parts.append(f'<p class="detail">{escape(c.detail)}</p>')
    if c.link:
        parts.append(f'<p><a href="#{escape(c.link)}">the rows</a></p>')
    return f'<article class="card{" tied" if c.tied else ""}">{"".join(parts)}</article>'


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = []
    for i, row in enumerate(t.rows):
        status = t.statuses[i] if i < len(t.statuses) else None
        cells = "".join(_cell(c) for c in row)
        body.append(f"<tr{_status_class(status)}>{cells}</tr>")
    if not t.rows:
        body.append(f'<tr><td colspan="{len(t.headers)}">(none)</td></tr>')
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<figure id="fig-{escape(f.key)}"><img src="data:image/png;base64,{data}" alt="{escape(f.alt)}">'
        f"<figcaption>{escape(f.title)}</figcaption></figure>"
    )


def _block(block) -> str:
    if isinstance(block, Paragraph):
        return _paragraph(block)
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block)
    if isinstance(block, Code):
        return f"<details><summary>{escape(block.summary)}</summary><pre>{escape(block.text)}</pre></details>"
    if isinstance(block, Cards):
        return '<div class="cards">' + "".join(_card(c) for c in block.cards) + "</div>"
    if isinstance(block, Details):
        inner = "".join(_block(b) for b in block.blocks)
        return f'<details class="rows"><summary>{escape(block.summary)}</summary>{inner}</details>'
    raise TypeError(f"unknown report block {type(block).__name__}")


def _section(section: Section) -> str:
    """An open section, or a collapsed one (<details>: the reader opens it; a link to it opens it too)."""
    body = "".join(_block(b) for b in section.blocks)
    key, title = escape(section.key), escape(section.title)
    if section.collapsed:
        return f'<details class="section" id="{key}"><summary><h2>{title}</h2></summary>{body}</details>'
    return f'<section id="{key}"><h2>{title}</h2>{body}</section>'


def render_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(doc.title)}</h1>",
    ]
    parts += [f'<p class="banner">{escape(p.text)}</p>' for p in doc.banner]
    parts.append(
        "<nav>" + "".join(f'<a href="#{escape(s.key)}">{escape(s.title)}</a>' for s in doc.sections) + "</nav>"
    )
    parts += [_section(section) for section in doc.sections]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
