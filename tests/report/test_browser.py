"""report.html in a real headless Chromium: it loads, draws its plots and logs no console message.

How: three runs of the Debian `chromium` binary with networking features off and a fresh
profile. (1) --dump-dom proves the page parsed: the serialized DOM holds every section and
the four inline images. (2) --screenshot renders the page; the PNG must exist, be large,
and contain matplotlib's default blue (the plots' pixels), so the base64 images decoded.
(3) --enable-logging=stderr --v=0 makes Chromium print every console message as a
"CONSOLE" line on stderr; the page has no script, so any such line (a parse or load error
reported to the console) fails the test. A control page that calls console.error proves
the scan sees console output with this Chromium build.
Needs: apt-get install chromium (fonts-dejavu-core gives readable text); skipped without it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from deploy_compare.report import HTML_NAME, render_all

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
    for section in ("verdicts", "run", "served", "latency", "local", "artifacts", "edge", "settings"):
        assert f'id="{section}"' in dom.stdout
    assert len(re.findall(r'<img src="data:image/png;base64,', dom.stdout)) == 4
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
