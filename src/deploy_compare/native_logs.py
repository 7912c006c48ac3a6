"""Keep third-party output (native log lines, Python warnings, logging, tracebacks) out of the terminal.

TF 2.21 and LiteRT log through absl straight to file descriptor 2, ignoring Python's
sys.stderr; torchao, absl and onnx2tf log through Python's logging, and a library that
fails to load an optional part (torchao without CUDA or triton) logs its traceback. None
of it is ours to show: inside `native_stderr_to(log)` both fd 2 and Python's sys.stderr
write to the log file, so `warnings.warn`, logging's last-resort handler, a handler a
library makes on import and "Exception ignored in ..." all land there, where they can
still be read. The project's own output is progress lines on stdout; its errors are
printed by the CLI after the block has ended, on the terminal again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def native_stderr_to(log_path: Path) -> Iterator[None]:
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    saved_stream = sys.stderr
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = os.fdopen(os.dup(log.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
        try:
            yield
        finally:
            temporary = sys.stderr
            temporary.flush()
            sys.stderr = saved_stream
            # A logging handler made inside (TF, absl, torchao set theirs up on import) holds
            # the temporary stream: point it back at the terminal before that stream closes,
            # or its next warning is a "--- Logging error ---" traceback.
            repoint_stream_handlers(temporary, saved_stream)
            temporary.close()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def repoint_stream_handlers(old: object, new: TextIO) -> None:
    """Every logging StreamHandler writing to `old` writes to `new` from now on.

    Call it before closing a stream that sys.stderr pointed at: a library imported while
    it did made its handler with that stream.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)
