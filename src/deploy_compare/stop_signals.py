"""Make `kill` and a closed terminal stop a command the way Ctrl-C does.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM and SIGHUP kill the process
without running `finally` blocks or context-manager exits, which would leave TorchServe's
Java process (in its own session, so it gets no signal itself) running with no owner.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _as_ctrl_c(signum, frame):  # noqa: ARG001 - signal handler signature
    # Re-deliver as SIGINT rather than raising here: inside the load client's event loop,
    # asyncio.Runner's own SIGINT handler cancels the running task cleanly, whereas an
    # exception raised in a signal handler lands in whatever callback is running (a
    # transport's data_received) and the loop swallows it as a "fatal transport error".
    signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    previous = {sig: signal.signal(sig, _as_ctrl_c) for sig in STOP_SIGNALS}
    # A background job of a non-interactive shell starts with SIGINT ignored, and Python
    # then leaves it ignored: the re-delivered SIGINT would vanish. Stopping must work.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
