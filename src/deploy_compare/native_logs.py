"""Keep native libraries' log lines (TensorFlow, LiteRT, absl) out of the terminal.

TF 2.21 and LiteRT log through absl straight to file descriptor 2, ignoring Python's
sys.stderr. We point fd 2 at a log file and give Python a duplicate of the original
terminal stream, so our own messages and errors still show while C++ INFO lines land
in the log, where they can still be read.
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
        sys.stderr = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        try:
            yield
        finally:
            temporary = sys.stderr
            temporary.flush()
            sys.stderr = saved_stream
            # A logging handler made inside (TF, absl, torchao set theirs up on import) holds
            # the temporary stream: point it back at the terminal before that stream closes,
            # or its next warning is a "--- Logging error ---" traceback.
            _repoint_handlers(temporary, saved_stream)
            temporary.close()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def _repoint_handlers(old: object, new: TextIO) -> None:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)
