"""The settings a running server applied, per stack (Stack.effective hooks), for results.json
"effective_settings": the same words for every stack, so a reader sees at once whether two
stacks ran with the same threads. A thread count None means the runtime's default."""

from __future__ import annotations

import json
from typing import Any

#: how a runtime's own default thread count reads (it takes every core it may use)
DEFAULT_THREADS = "default (all cores)"
#: torchserve/handler.py APPLIED_MARKER, repeated so reading a log imports no torch (a test
#: holds the two equal)
TORCHSERVE_APPLIED_MARKER = "deploy-compare handler applied:"


def threads_word(threads: int | None) -> str:
    return str(threads) if threads else DEFAULT_THREADS


def torchserve(launcher: Any) -> dict[str, Any]:
    """Workers from the config; each worker's torch threads and what its handler applied from
    the line handler.py logs once loaded (the config's thread setting where none is logged)."""
    config = launcher.config
    settings: dict[str, Any] = {"workers": config.workers, "torch_threads": threads_word(config.torch_threads)}
    logs = [launcher.tail(2000)]
    own_logs = getattr(launcher, "work_dir", None)
    if own_logs is not None and (own_logs / "logs").is_dir():
        logs += [p.read_text(errors="replace") for p in sorted((own_logs / "logs").glob("*.log"))]
    for line in "\n".join(logs).splitlines():
        if TORCHSERVE_APPLIED_MARKER in line:
            try:
                applied = json.loads(line.split(TORCHSERVE_APPLIED_MARKER, 1)[1].strip())
            except ValueError:
                continue
            settings.update({f"handler_{k}" if k != "torch_threads" else k: v for k, v in applied.items()})
            break
    settings["batch_size"] = config.batch_size
    return settings


def triton(launcher: Any) -> dict[str, Any]:
    config = launcher.config
    return {
        "instances": config.instances,
        "onnxruntime_intra_op_threads": threads_word(config.threads),
        "graph_optimization_level": "ORT_ENABLE_ALL",
        "dynamic_batching": config.dynamic_batching,
    }


def fastapi(launcher: Any) -> dict[str, Any]:
    config = launcher.config
    return {
        "uvicorn_workers": config.workers,
        "runtime_intra_op_threads": threads_word(config.threads),
        "artifact": launcher.model.entry.name,
    }


def tfserving(launcher: Any) -> dict[str, Any]:
    config = launcher.config
    return {
        "session_intra_op_threads": threads_word(config.threads),
        "session_inter_op_threads": 1 if config.threads else DEFAULT_THREADS,
        "batching": config.batching,
    }
