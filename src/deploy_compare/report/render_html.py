"""report.html: the Document as one self-contained page (inline CSS, plots as base64 PNG,
no script, no external URL), readable offline and safe to attach to a ticket."""

from __future__ import annotations

import base64
from html import escape

from .document import Bullets, Code, Document, Figure, Paragraph, Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 1.5rem auto;
       max-width: 1250px; padding: 0 1rem; color: #1d232a; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; border-bottom: 2px solid #d6dde5; padding-bottom: .2rem; margin-top: 2rem; }
nav { font-size: .9rem; margin-bottom: 1rem; }
nav a { margin-right: .9rem; }
a { color: #0b5cad; }
.banner { background: #fde2e1; border: 2px solid #c62828; color: #7f1010; padding: .7rem 1rem;
          font-weight: 600; border-radius: 4px; }
.warning { background: #fff4e5; border-left: 4px solid #e08a00; padding: .4rem .7rem; }
.note { color: #4a5561; font-size: .92rem; }
.lead { font-weight: 650; }
#verdicts p { margin: .8rem 0 .2rem; }
#verdicts ul { margin-top: .2rem; font-size: .93rem; }
/* A wide table scrolls inside its own box, which is at most a screen high so its horizontal
   scrollbar is always in view; the header row and the first column (what the row is) stay put. */
.scroll { overflow: auto; max-height: 85vh; margin: .6rem 0 1rem; border: 1px solid #d6dde5; }
table { border-collapse: separate; border-spacing: 0; font-size: .84rem; }
th, td { border-right: 1px solid #d6dde5; border-bottom: 1px solid #d6dde5; padding: .25rem .5rem;
         text-align: left; vertical-align: top; }
th { background: #eef2f6; white-space: nowrap; position: sticky; top: 0; z-index: 2; }
td { max-width: 34rem; overflow-wrap: break-word; background: #fff; }
th:first-child, td:first-child { position: sticky; left: 0; z-index: 1; }
th:first-child { z-index: 3; }
tr.st-skipped td { background: #f4f4f4; color: #555; }
tr.st-failed td, tr.st-interrupted td { background: #fde2e1; }
tr.st-not-run td { background: #f4f4f4; color: #555; font-style: italic; }
tr.st-warn td { background: #fff8e6; }
td.status { font-weight: 650; white-space: nowrap; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e8ee; }
figcaption { font-size: .9rem; color: #4a5561; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .8rem; }
"""

STATUS_WORDS = ("OK", "SKIPPED", "FAILED", "INTERRUPTED", "NOT RUN")


def _status_class(status: str | None) -> str:
    if not status or status == "OK":
        return ""
    return f' class="st-{escape(status.lower().replace(" ", "-"))}"'


def _paragraph(p: Paragraph) -> str:
    lead = f'<span class="lead">{escape(p.lead)}:</span> ' if p.lead else ""
    cls = {"warning": ' class="warning"', "note": ' class="note"'}.get(p.tone, "")
    return f"<p{cls}>{lead}{escape(p.text)}</p>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = []
    for i, row in enumerate(t.rows):
        status = t.statuses[i] if i < len(t.statuses) else None
        cells = "".join(
            f'<td class="status">{escape(c)}</td>' if c in STATUS_WORDS else f"<td>{escape(c)}</td>" for c in row
        )
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
    raise TypeError(f"unknown report block {type(block).__name__}")


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
    for section in doc.sections:
        parts.append(f'<section id="{escape(section.key)}"><h2>{escape(section.title)}</h2>')
        parts += [_block(b) for b in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
