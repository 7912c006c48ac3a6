"""native_stderr_to: native log lines go to the file; Python logging keeps working afterwards."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

# In a child process: fd 2 and sys.stderr are real there (pytest captures them here).
SCRIPT = """
import logging, os, sys
from deploy_compare.native_logs import native_stderr_to
log = logging.getLogger("made-inside")
with native_stderr_to(sys.argv[1]):
    os.write(2, b"native line\\n")
    log.addHandler(logging.StreamHandler())  # as TF/absl/torchao do on import: holds sys.stderr
log.warning("warned after the context")
"""


def test_a_handler_made_inside_writes_to_the_terminal_afterwards(tmp_path):
    log = tmp_path / "native.log"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "native line" in log.read_text()
    assert "warned after the context" in proc.stderr
    assert "Logging error" not in proc.stderr and "closed file" not in proc.stderr


def test_handlers_of_other_streams_are_left_alone(tmp_path):
    from deploy_compare.native_logs import native_stderr_to

    handler = logging.StreamHandler(sys.stdout)
    logging.getLogger("other-stream").addHandler(handler)
    try:
        with native_stderr_to(tmp_path / "native.log"):
            pass
        assert handler.stream is sys.stdout
    finally:
        logging.getLogger("other-stream").removeHandler(handler)
