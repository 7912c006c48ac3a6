"""Views of a run: results.csv, report.md and report.html, rendered from results.json alone,
and every chart as a PNG under charts/ (for slides).

`render_all(run_dir)` re-renders a run; the same run directory gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

from ..fileio import write_text_atomic
from .build import build_document
from .document import Details, Document, Figure
from .inputs import load_inputs
from .render_csv import render_csv
from .render_html import render_html
from .render_md import render_markdown

CSV_NAME = "results.csv"
MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"
CHARTS_DIR = "charts"


def figures(doc: Document) -> list[Figure]:
    """Every chart of the document, in reading order."""
    found: list[Figure] = []

    def walk(blocks: list) -> None:
        for block in blocks:
            if isinstance(block, Figure):
                found.append(block)
            elif isinstance(block, Details):
                walk(block.blocks)

    for section in doc.sections:
        walk(section.blocks)
    return found


def write_charts(doc: Document, run_dir: Path) -> Path:
    """charts/<key>.png of every chart; a PNG left from an earlier render of another chart goes."""
    charts = run_dir / CHARTS_DIR
    charts.mkdir(exist_ok=True)
    written = set()
    for fig in figures(doc):
        path = charts / f"{fig.key}.png"
        path.write_bytes(fig.png)
        written.add(path.name)
    for stale in charts.glob("*.png"):
        if stale.name not in written:
            stale.unlink()
    return charts


def render_all(run_dir: Path) -> list[Path]:
    """Write results.csv, report.md and report.html into `run_dir`; returns their paths."""
    run_dir = Path(run_dir)
    inputs = load_inputs(run_dir)
    document = build_document(inputs)
    edge_rows = [row for rows in inputs.edge.values() for row in rows]
    outputs = {
        CSV_NAME: render_csv(inputs.results, edge_rows),
        MARKDOWN_NAME: render_markdown(document),
        HTML_NAME: render_html(document),
    }
    paths = []
    for name, content in outputs.items():
        path = run_dir / name
        write_text_atomic(path, content)
        paths.append(path)
    paths.append(write_charts(document, run_dir))
    return paths


__all__ = ["render_all", "CSV_NAME", "MARKDOWN_NAME", "HTML_NAME", "CHARTS_DIR"]
