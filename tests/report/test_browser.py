"""report.html in a real headless Chromium: it loads, draws its plots, logs no console message,
and fits the page at a desktop width (1400 px) and a phone's (390 px).

How: runs of the Debian `chromium` binary with networking features off and a fresh profile.
(1) --dump-dom proves the page parsed: the serialized DOM holds every section and its inline
images. (2) --screenshot renders the page; the PNG must exist, be large, and contain
matplotlib's default blue (the plots' pixels), so the base64 images decoded.
(3) --enable-logging=stderr --v=0 makes Chromium print every console message as a
"CONSOLE" line on stderr; the page has no script, so any such line (a parse or load error
reported to the console) fails the test. A control page that calls console.error proves
the scan sees console output with this Chromium build.
(4) Layout: a copy of the page with a probe script appended opens every collapsed section,
measures the page and each table's box and row, and writes what it saw into the DOM that
--dump-dom prints: no horizontal scroll of the page at either width, every table's box inside
the page, every table inside its box at 1400 px (at 390 px a table scrolls in its own box,
its first column sticky), no row without content and no row many lines taller than its text
needs. The screenshots (first screen at both widths) are kept for CI under
$DEPLOY_COMPARE_ARTIFACTS, else test-artifacts/ (git-ignored), in report-browser/.
Needs: apt-get install chromium (fonts-dejavu-core gives readable text); skipped without it.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_compare.report import HTML_NAME, render_all
from deploy_compare.report.render_html import LONG_CELL

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
PLOT_BLUE = (31, 119, 180)  # matplotlib "C0", drawn by the throughput and CDF plots


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install -y chromium)")
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True, text=True, timeout=120
    )


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_console_scan_sees_console_errors(tmp_path):
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("control-marker")</script></body></html>')
    proc = _chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any("control-marker" in line for line in _console_lines(proc.stderr))


def test_report_loads_renders_plots_and_logs_nothing(make_run, tmp_path):
    run_dir = make_run()
    render_all(run_dir)
    url = (run_dir / HTML_NAME).as_uri()

    dom = _chromium(url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in ("answer", "verdicts", "run", "served", "latency", "local", "artifacts", "edge", "settings"):
        assert f'id="{section}"' in dom.stdout
    charts = list((run_dir / "charts").glob("*.png"))
    assert len(re.findall(r'<img src="data:image/png;base64,', dom.stdout)) == len(charts) >= 6
    assert _console_lines(dom.stderr) == []

    shot = tmp_path / "report.png"
    proc = _chromium(
        url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console_lines(proc.stderr) == []
    assert shot.exists() and shot.stat().st_size > 50_000

    import matplotlib.image
    import numpy as np

    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round()
    assert pixels.shape[:2] == (4000, 1280)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # text, tables and plots, not a blank page
    blue = np.all(np.abs(pixels - np.array(PLOT_BLUE)) <= 12, axis=-1)
    assert blue.sum() > 200, "no plot pixels: the inline PNG images did not render"


# Appended to a copy of the page: opens every collapsed section, measures, and posts the figures
# to the page framing it (FRAME).
PROBE = """<script>
window.addEventListener("load", () => {
  for (const d of document.querySelectorAll("details")) d.open = true;
  const boxes = [...document.querySelectorAll(".scroll")].map(box => ({
    table: box.closest("[id]").id + ": " + [...box.querySelectorAll("th")].slice(0, 3).map(th => th.textContent).join(" | "),
    scrollWidth: box.scrollWidth, clientWidth: box.clientWidth, right: box.getBoundingClientRect().right}));
  const rows = [...document.querySelectorAll("tbody tr")].map(tr => {
    const cells = [...tr.cells].map(td => td.textContent.trim());
    return {first: cells[0], height: tr.getBoundingClientRect().height, longest: Math.max(...cells.map(c => c.length)),
            empty: cells.length > 1 && cells.slice(1).every(c => c === "" || c === "-")};
  });
  const cell = document.querySelector("td");
  const probe = {innerWidth, pageWidth: document.scrollingElement.scrollWidth, boxes, rows,
                 lineHeight: parseFloat(getComputedStyle(cell).lineHeight) || 16};
  parent.postMessage(JSON.stringify(probe), "*");
});
</script>"""
# Headless Chromium lays a page out at least 500 px wide whatever --window-size says, so the page
# is measured (and the phone's screenshot taken) in an iframe of the exact width; the frame's
# probe posts its figures to this page, which prints them for --dump-dom.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:{height}px;border:0;display:block"></iframe>
<script>addEventListener("message", e => {{
  const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = e.data; document.body.appendChild(pre);
}});</script></body></html>"""
WIDTHS = (1400, 390)
#: a row this many lines tall holds a cell that wrapped into a narrow column (unless its text is long)
TALL_LINES = 8


def _artifacts_dir() -> Path:
    root = os.environ.get("DEPLOY_COMPARE_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts"
    path = Path(root) / "report-browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _framed(page: Path, width: int, height: int) -> Path:
    """A page showing `page` in an iframe exactly `width` px wide."""
    frame = page.with_name(f"frame-{page.stem}-{width}.html")
    frame.write_text(FRAME.format(src=page.name, width=width, height=height))
    return frame


def _probe(page: Path, width: int, profile: Path) -> dict:
    probed = page.with_name(f"probe-{page.stem}.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    window = f"--window-size={max(width, 500)},900"
    proc = _chromium(_framed(probed, width, 900).as_uri(), profile, "--dump-dom", window, "--virtual-time-budget=5000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console_lines(proc.stderr) == [], _console_lines(proc.stderr)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the probe did not run: no measurements in the DOM"
    return json.loads(html.unescape(found.group(1)))


def layout_problems(probe: dict, width: int) -> list[str]:
    """What does not fit: the page scrolls sideways, a table's box leaves the page, a table leaves
    its box (desktop width only), a row with nothing in it, a row much taller than its text."""
    problems = []
    if probe["pageWidth"] > probe["innerWidth"]:
        problems.append(f"the page is {probe['pageWidth']} px wide in a {probe['innerWidth']} px window")
    for box in probe["boxes"]:
        if box["right"] > probe["innerWidth"] + 1:
            problems.append(f"table box ends at {box['right']:.0f} px: {box['table']}")
        if width >= 1400 and box["scrollWidth"] > box["clientWidth"] + 1:
            problems.append(f"table {box['scrollWidth']} px wide in its {box['clientWidth']} px box: {box['table']}")
    tall = TALL_LINES * probe["lineHeight"] + 12
    for row in probe["rows"]:
        if row["empty"]:
            problems.append(f"an empty row: {row['first']}")
        if width >= 1400 and row["height"] > tall and row["longest"] < TALL_LINES * LONG_CELL:
            problems.append(f"a row {row['height']:.0f} px tall for {row['longest']} characters: {row['first']}")
    return problems


def test_report_fits_a_desktop_and_a_phone_and_keeps_its_screenshots(make_run, make_several_stacks, tmp_path):
    run_dir = make_run(make_several_stacks())
    render_all(run_dir)
    page = run_dir / HTML_NAME
    kept = _artifacts_dir()
    problems = {}
    for width in WIDTHS:
        probe = _probe(page, width, tmp_path / f"profile-probe-{width}")
        assert probe["innerWidth"] == width and len(probe["boxes"]) > 10 and len(probe["rows"]) > 50
        problems[width] = layout_problems(probe, width)
        shot = kept / f"report-{width}.png"
        height = 1000 if width > 600 else 1600
        proc = _chromium(
            _framed(page, width, height).as_uri(),
            tmp_path / f"profile-shot-{width}",
            f"--screenshot={shot}",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
        )
        assert proc.returncode == 0 and shot.stat().st_size > 20_000
    assert problems == {width: [] for width in WIDTHS}


def test_the_layout_check_sees_a_page_that_does_not_fit(tmp_path):
    """The probe on a page that breaks each rule: a wide table, an empty row, a tall narrow row."""
    wide = "".join(f"<td>cell-number-{i}-wide</td>" for i in range(40))
    narrow = "<td style='width:2rem; max-width:2rem'>" + " ".join(["word"] * 60) + "</td><td>x</td>"
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><div class='scroll' id='t'><table><thead><tr><th>a</th></tr></thead><tbody>"
        f"<tr>{wide}</tr><tr><td>label</td><td>-</td><td></td></tr><tr>{narrow}</tr>"
        "</tbody></table></div></body></html>"
    )
    problems = layout_problems(_probe(page, 1400, tmp_path / "profile"), 1400)
    assert any(p.startswith("the page is") for p in problems)
    assert any(p.startswith("an empty row: label") for p in problems)
    assert any(p.startswith("a row") and "tall" in p for p in problems)
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_the_diff_page_fits_a_desktop_and_a_phone(make_run, make_results, tmp_path):
    from deploy_compare.cli import main

    a = make_results()
    b = make_results()
    b.served = [dataclasses.replace(s, sweep=[{**p, "p50_ms": p["p50_ms"] * 5} for p in s.sweep]) for s in a.served]
    page = tmp_path / "diff.html"
    assert main(["diff", str(make_run(a, name="a")), str(make_run(b, name="b")), "--html", str(page)]) == 1
    for width in WIDTHS:
        probe = _probe(page, width, tmp_path / f"profile-diff-{width}")
        assert probe["boxes"] and layout_problems(probe, width) == [], width
