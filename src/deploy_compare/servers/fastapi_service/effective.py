"""What the running FastAPI service applied, for results.json "effective_settings" (its descriptor's
`effective` hook; threads worded by runtimes/base.threads_word)."""

from __future__ import annotations

from typing import Any

from ...runtimes.base import threads_word


def effective_settings(launcher: Any) -> dict[str, Any]:
    config = launcher.config
    return {
        "uvicorn_workers": config.workers,
        "runtime_intra_op_threads": threads_word(config.threads),
        "artifact": launcher.model.entry.name,
    }
