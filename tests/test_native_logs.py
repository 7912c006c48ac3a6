"""native_stderr_to: native and third-party Python output go to the file; logging keeps working afterwards."""

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


INSIDE = """
import logging, os, sys, warnings
from deploy_compare.native_logs import native_stderr_to
with native_stderr_to(sys.argv[1]):
    warnings.warn("a library's warning")
    logging.getLogger("no-handler").warning("a library's log line")  # logging's last resort
    print("a library's print to stderr", file=sys.stderr)
print("ours, after the block", file=sys.stderr)
"""


def test_python_level_output_inside_goes_to_the_log(tmp_path):
    log = tmp_path / "native.log"
    proc = subprocess.run([sys.executable, "-c", INSIDE, str(log)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    for line in ("a library's warning", "a library's log line", "a library's print to stderr"):
        assert line in text and line not in proc.stderr, line
    assert proc.stderr.strip() == "ours, after the block"
