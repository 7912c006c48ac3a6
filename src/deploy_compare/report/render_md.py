"""report.md: the Document as Markdown. Plots are embedded as base64 PNG data URIs, defined
as reference links at the end of the file so the text stays readable in an editor."""

from __future__ import annotations

import base64

from .document import Bullets, Code, Document, Figure, Paragraph, Table


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


def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    for p in doc.banner:
        out += [_paragraph(p), ""]
    out += ["Contents: " + " | ".join(f"[{s.title}](#{s.key})" for s in doc.sections), ""]
    figures: list[Figure] = []
    for section in doc.sections:
        out += [f'<a id="{section.key}"></a>', "", f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out += [_paragraph(block), ""]
            elif isinstance(block, Bullets):
                out += [f"- {item}" for item in block.items] + [""]
            elif isinstance(block, Table):
                out += _table(block) + [""]
            elif isinstance(block, Figure):
                figures.append(block)
                out += [f"**{block.title}**", "", f"![{block.alt}][fig-{block.key}]", ""]
            elif isinstance(block, Code):
                out += [f"**{block.summary}**", "", "```json", block.text, "```", ""]
    for fig in figures:
        out.append(f"[fig-{fig.key}]: data:image/png;base64,{base64.b64encode(fig.png).decode('ascii')}")
    return "\n".join(out).rstrip("\n") + "\n"
