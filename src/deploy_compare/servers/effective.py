"""The words every stack's `effective` hook (servers/<stack>/effective.py) uses for results.json
"effective_settings", the same for every stack, so a reader sees at once whether two
stacks ran with the same threads. A thread count None means the runtime's default."""

from __future__ import annotations

#: how a runtime's own default thread count reads (it takes every core it may use)
DEFAULT_THREADS = "default (all cores)"


def threads_word(threads: int | None) -> str:
    return str(threads) if threads else DEFAULT_THREADS
