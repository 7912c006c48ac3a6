"""report.md: the Document as Markdown. Plots are embedded as base64 PNG data URIs, defined
as reference links at the end of the file so the text stays readable in an editor."""

from __future__ import annotations

import base64

from .document import Bullets, Card, Cards, Code, Details, Document, Figure, Paragraph, Table


def _cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    headers = [h or " " for h in t.headers]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    if not t.rows:
        lines.append("| " + " | ".join(["(none)"] + [" "] * (len(headers) - 1)) + " |")
    if t.caption:
        lines += ["", f"*{t.caption}*"]
    return lines


def _paragraph(p: Paragraph) -> str:
    body = f"**{p.lead}:** {p.text}" if p.lead else p.text
    if p.tone == "warning":
        return f"> **WARNING** {body}"
    if p.tone == "note":
        return f"*{body}*" if not p.lead else body
    return body


def _card(c: Card) -> list[str]:
    path = " · ".join(f"{role} **{value}**" for role, value in c.path)
    lines = [f"### {c.objective}" + (" (tied)" if c.tied else ""), ""]
    if path:
        lines += [path, ""]
    if c.figure:
        lines += [f"**{c.figure}** ({c.uncertainty})", ""]
    lines.append(f"- {c.runner_up}")
    if c.detail:
        lines.append(f"- {c.detail}")
    if c.link:
        lines.append(f"- the rows: [{c.link}](#{c.link})")
    return [*lines, ""]


def _block(block, figures: list[Figure]) -> list[str]:
    if isinstance(block, Paragraph):
        return [_paragraph(block), ""]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items] + [""]
    if isinstance(block, Table):
        return _table(block) + [""]
    if isinstance(block, Figure):
        figures.append(block)
        return [f"**{block.title}**", "", f"![{block.alt}][fig-{block.key}]", ""]
    if isinstance(block, Code):
        return [f"**{block.summary}**", "", "```json", block.text, "```", ""]
    if isinstance(block, Cards):
        return [line for c in block.cards for line in _card(c)]
    if isinstance(block, Details):
        return [f"**{block.summary}**", ""] + [line for b in block.blocks for line in _block(b, figures)]
    raise TypeError(f"unknown report block {type(block).__name__}")


def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    for p in doc.banner:
        out += [_paragraph(p), ""]
    out += ["Contents: " + " | ".join(f"[{s.title}](#{s.key})" for s in doc.sections), ""]
    figures: list[Figure] = []
    for section in doc.sections:
        out += [f'<a id="{section.key}"></a>', "", f"## {section.title}", ""]
        for block in section.blocks:
            out += _block(block, figures)
    for fig in figures:
        out.append(f"[fig-{fig.key}]: data:image/png;base64,{base64.b64encode(fig.png).decode('ascii')}")
    return "\n".join(out).rstrip("\n") + "\n"
