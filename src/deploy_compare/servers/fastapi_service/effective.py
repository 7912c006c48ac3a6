"""What the running FastAPI service applied, for results.json "effective_settings" (its descriptor's
`effective` hook; the shared words in servers/effective.py)."""

from __future__ import annotations

from typing import Any

from ..effective import threads_word


def effective_settings(launcher: Any) -> dict[str, Any]:
    config = launcher.config
    return {
        "uvicorn_workers": config.workers,
        "runtime_intra_op_threads": threads_word(config.threads),
        "artifact": launcher.model.entry.name,
    }
