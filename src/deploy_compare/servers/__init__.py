"""Serving stacks: one folder per stack, each registered by its descriptor (registry.py).

Public API (what the pipeline calls):

    from deploy_compare.servers import make_launcher, get

    stack = get("torchserve")                   # the descriptor; names() lists every stack
    config = stack.config_class(workers=2)      # its typed config (servers/<stack>/config.py)
    launcher = make_launcher(stack.name, mode="auto",  # "auto" | "docker" | "native"
                             manifest_dir=artifacts, run_dir=run, config=config)
    with launcher as server:                    # start() + wait healthy; stop() on exit/Ctrl-C/errors
        ep = server.endpoint                    # Endpoint
        ep.encoding     # how requests travel (a name in clients.encodings.encoding_classes())
        ep.url          # http://127.0.0.1:<port>           (also .base_url)
        ep.model        # the model name in the URL          (also .model_name)
        ep.predict_url  # full predict URL
        ep.headers      # send with every request, e.g. {"Authorization": "Bearer <key>"}
        server.log_path     # the server's log, in the run directory
        server.startup_s    # seconds from start() to healthy
        server.pid          # native: the process answering HTTP; None in Docker (see .container_name)

Errors (from deploy_compare.errors):
  ServerUnavailable  this stack cannot run here (no Docker engine, no Java, no binary): the
                     target is SKIPPED with str(error).
  ServerError        start failed (bad model, port taken, image build error) or the health
                     deadline passed; `.log_tail` holds the last log lines.
  ConfigError        invalid config values (field + allowed values in the message).

Every server binds 127.0.0.1 (Docker: published on 127.0.0.1 only).

Layout:
  <stack>/            one folder per stack (torchserve/, tfserving/, triton/, fastapi_service/):
    __init__.py       its descriptor(s): STACKS = (Stack(...),), found by registry.py
    config.py         its typed config (the TOML table [<name>], `serve --set`)
    native.py, docker.py   its launchers (fastapi_service: launcher.py; native only)
    encodings.py      its encodings (clients.encodings.Encoding subclasses) and wire messages
    metrics.py        its queue/compute split from the server's own metrics
    ...               what it alone needs (torchserve: archive.py, handler.py, smoke_load.py;
                      triton: repository.py, model.py; fastapi_service: app.py, grpc_server.py)
  Dockerfile.<stack>  at the repository root: the file its Docker launcher builds (packaged
                      into servers/dockerfiles/ by the build for a non-editable install)
  registry.py         Stack (the descriptor), discovery, names(), get(), labels()
  config.py           MODES, the ServerConfig interface, the validation helpers configs share
  base.py             Launcher (the template: start, health, stop) and Endpoint
  docker_base.py      DockerLauncher: build context, content-hashed image, container lifecycle
  factory.py          make_launcher: auto mode (Docker or native), image build, fallback
  kserve_v2.py        what the KServe v2 stacks share (Triton, the FastAPI service): health, endpoint
  process.py          process groups, free ports, log tails;  metrics.py / monitor.py: the
                      server's view;  model_spec.py: the manifest's served model;  cleanup.py
"""

from __future__ import annotations

import importlib
from typing import Any

# The public names, imported on first use: a stack's own process (the FastAPI service under
# uvicorn, TorchServe's handler) imports its subpackage, and must not pull in the launchers
# and, through the Endpoint, the whole load client.
_PUBLIC = {
    "ServerError": "..errors",
    "ServerUnavailable": "..errors",
    "Endpoint": ".base",
    "Launcher": ".base",
    "MODES": ".config",
    "make_launcher": ".factory",
    "resolve_mode": ".factory",
    "Stack": ".registry",
    "get": ".registry",
    "labels": ".registry",
    "names": ".registry",
    "stacks": ".registry",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module, __name__), name)
