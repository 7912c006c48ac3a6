"""What the running TorchServe applied, for results.json "effective_settings" (its descriptor's
`effective` hook; threads worded by runtimes/base.threads_word)."""

from __future__ import annotations

import json
from typing import Any

from ...runtimes.base import threads_word

#: handler.py APPLIED_MARKER, repeated so reading a log imports no torch (a test holds the two equal)
APPLIED_MARKER = "deploy-compare handler applied:"


def effective_settings(launcher: Any) -> dict[str, Any]:
    """Workers from the config; each worker's torch threads and what its handler applied from
    the line handler.py logs once loaded (the config's thread setting where none is logged)."""
    config = launcher.config
    settings: dict[str, Any] = {"workers": config.workers, "torch_threads": threads_word(config.torch_threads)}
    logs = [launcher.tail(2000)]
    own_logs = getattr(launcher, "work_dir", None)
    if own_logs is not None and (own_logs / "logs").is_dir():
        logs += [p.read_text(errors="replace") for p in sorted((own_logs / "logs").glob("*.log"))]
    for line in "\n".join(logs).splitlines():
        if APPLIED_MARKER in line:
            try:
                applied = json.loads(line.split(APPLIED_MARKER, 1)[1].strip())
            except ValueError:
                continue
            settings.update({f"handler_{k}" if k != "torch_threads" else k: v for k, v in applied.items()})
            break
    settings["batch_size"] = config.batch_size
    return settings
