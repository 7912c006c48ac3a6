"""What the running TF Serving applied, for results.json "effective_settings" (its descriptor's
`effective` hook; threads worded by runtimes/base.threads_word)."""

from __future__ import annotations

from typing import Any

from ...runtimes.base import DEFAULT_THREADS, threads_word


def effective_settings(launcher: Any) -> dict[str, Any]:
    config = launcher.config
    return {
        "session_intra_op_threads": threads_word(config.threads),
        "session_inter_op_threads": 1 if config.threads else DEFAULT_THREADS,
        "batching": config.batching,
    }
