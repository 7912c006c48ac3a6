"""The one progress mechanism: stamped lines everywhere; a live status line only on a
terminal and not in quiet mode (then plain text without any escape code)."""

from __future__ import annotations

import io
import os
import pty
import select

import pytest

from deploy_compare.progress import QUIET_ENV, ProgressLog

pytestmark = pytest.mark.unit


def _drain(fd: int) -> bytes:
    out = b""
    while select.select([fd], [], [], 0.2)[0]:
        out += os.read(fd, 65536)
    return out


def test_lines_are_stamped_plain_text_and_status_is_dropped_off_a_terminal():
    stream = io.StringIO()
    with ProgressLog(stream) as progress:
        progress.stage(1, 3, "export")
        progress.status("torchserve: 100 req/s")
        progress.line("export: wrote model.onnx")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in stream.getvalue()
    assert lines[0].endswith("] == stage 1/3: export") and lines[0].startswith("[")
    assert lines[1].endswith("] export: wrote model.onnx")


@pytest.mark.parametrize("quiet", [False, True])
def test_terminal_gets_a_live_status_line_unless_quiet(quiet, monkeypatch):
    monkeypatch.setenv(QUIET_ENV, "1" if quiet else "0")
    master, slave = pty.openpty()
    with open(slave, "w", closefd=True) as tty:
        with ProgressLog(tty) as progress:
            assert progress.live is (not quiet)
            progress.status("tfserving: c=4 123 req/s")
            progress.line("tfserving: healthy")
        tty.flush()
        out = _drain(master)
    os.close(master)
    assert b"tfserving: healthy" in out
    if quiet:
        assert b"\x1b" not in out and b"123 req/s" not in out
    else:
        assert b"123 req/s" in out  # drawn by rich's live status, then cleared for the line
