"""Serving stacks, each a folder here with its descriptor (registry.py): TorchServe, TF
Serving, Triton, the FastAPI baseline; each in Docker or native.

Public API (what the pipeline calls):

    from deploy_compare.servers import make_launcher, TorchServeConfig, TFServingConfig

    launcher = make_launcher("torchserve", mode="auto",           # "auto" | "docker" | "native"
                             manifest_dir=artifacts, run_dir=run,
                             config=TorchServeConfig(workers=2, batch_size=8, max_batch_delay_ms=5))
    with launcher as server:                    # start() + wait healthy; stop() on exit/Ctrl-C/errors
        ep = server.endpoint                    # Endpoint
        ep.protocol     # the client's protocol adapter ("torchserve", "tfserving", "kserve_v2")
        ep.url          # http://127.0.0.1:<port>           (also .base_url)
        ep.model        # the model name in the URL          (also .model_name)
        ep.predict_url  # full predict URL
        ep.headers      # send with every request: {"Authorization": "Bearer <inference key>"}
        server.log_path     # the server's log, in the run directory
        server.startup_s    # seconds from start() to healthy
        server.pid          # native: the process answering HTTP (TorchServe: the Java
                            # frontend); None in Docker (see .container_name)

Errors (from deploy_compare.errors):
  ServerUnavailable  this stack cannot run here (no Docker engine, no Java, no
                     tensorflow_model_server): the target is SKIPPED with str(error).
  ServerError        start failed (bad model, port taken, Java missing, image build error)
                     or the health deadline passed; `.log_tail` holds the last log lines.
  ConfigError        invalid config values (field + allowed values in the message).

Both stacks take the same request body, TF Serving's row format {"instances": [...]} with
samples in the ARTIFACT's layout (manifest inputs[0].layout; TorchScript: NCHW,
SavedModel: NHWC), and answer {"predictions": [[...], ...]}.

TorchServe keeps token authorization ON and the model-management API OFF; everything
binds 127.0.0.1 (Docker: published on 127.0.0.1 only). Native TF Serving cannot bind
REST to loopback (no such flag); see tfserving_native.py.

Modules: config (typed configs), base (Launcher, Endpoint), factory (make_launcher, auto
mode), torchserve_native / tfserving_native, docker_base / torchserve_docker /
tfserving_docker, torchserve_archive (.mar + config.properties), torchserve_handler (runs
inside TorchServe), process (process groups, free ports, log tails).
"""

from __future__ import annotations

from ..errors import ServerError, ServerUnavailable
from .base import Endpoint, Launcher
from .config import MODES, TFServingConfig, TorchServeConfig
from .factory import make_launcher, resolve_mode
from .registry import Stack, get, labels, names, stacks

__all__ = [
    "MODES",
    "Stack",
    "Endpoint",
    "Launcher",
    "ServerError",
    "ServerUnavailable",
    "TFServingConfig",
    "TorchServeConfig",
    "get",
    "labels",
    "make_launcher",
    "names",
    "resolve_mode",
    "stacks",
]
