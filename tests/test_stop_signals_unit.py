"""A Ctrl-C that lands in a finalizer (where Python prints "Exception ignored" and drops it)
still stops the command: the next progress line raises it (stop_signals.py)."""

from __future__ import annotations

import gc
import io

import pytest

from deploy_compare.progress import ProgressLog
from deploy_compare.stop_signals import stop_signals_as_interrupt

pytestmark = pytest.mark.unit


class _InterruptedFinalizer:
    def __del__(self) -> None:
        raise KeyboardInterrupt  # what SIGINT does when it arrives during this __del__


def test_an_interrupt_swallowed_by_a_finalizer_is_raised_at_the_next_progress_line():
    log = ProgressLog(io.StringIO(), quiet=True)
    with stop_signals_as_interrupt():
        _InterruptedFinalizer()  # dropped at once: its __del__ raises, Python ignores it
        gc.collect()
        with pytest.raises(KeyboardInterrupt):
            log.line("next load level")
        log.line("raised once only")
        _InterruptedFinalizer()
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            log.line("interrupted: cleaning up")  # already on its way: forgotten, not raised again
        log.line("after cleanup")
    _InterruptedFinalizer()  # outside the command: Python's own behaviour (printed, dropped)
    log.line("no command running")
