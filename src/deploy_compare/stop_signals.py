"""Make `kill` and a closed terminal stop a command the way Ctrl-C does.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM and SIGHUP kill the process
without running `finally` blocks or context-manager exits, which would leave TorchServe's
Java process (in its own session, so it gets no signal itself) running with no owner.

A KeyboardInterrupt raised while a finalizer runs (an asyncio transport's __del__ during
garbage collection) is printed as "Exception ignored" and dropped: the run went on measuring
(seen in CI). The unraisable hook keeps it, and the next progress line raises it again
(raise_lost_interrupt), from the main flow where the pipeline's handlers see it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

_lost = threading.Event()  # a KeyboardInterrupt a finalizer swallowed, not yet raised again

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _as_ctrl_c(signum, frame):  # noqa: ARG001 - signal handler signature
    # Re-deliver as SIGINT rather than raising here: inside the load client's event loop,
    # asyncio.Runner's own SIGINT handler cancels the running task cleanly, whereas an
    # exception raised in a signal handler lands in whatever callback is running (a
    # transport's data_received) and the loop swallows it as a "fatal transport error".
    signal.raise_signal(signal.SIGINT)


def raise_lost_interrupt() -> None:
    """Raise the KeyboardInterrupt a finalizer swallowed, once. While an exception is being
    handled (the interrupt already on its way, or cleanup) it is only forgotten."""
    if _lost.is_set():
        _lost.clear()
        if sys.exc_info()[0] is None:
            raise KeyboardInterrupt


def _keeping_lost_interrupts(previous):
    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _lost.set()
        previous(unraisable)

    return hook


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _keeping_lost_interrupts(previous_hook)
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
        sys.unraisablehook = previous_hook
        _lost.clear()
