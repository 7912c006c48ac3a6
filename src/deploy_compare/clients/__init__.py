"""The httpx load client: encodings, closed and open loops, honest latency.

Public API (what the pipeline calls)::

    from deploy_compare.clients import (
        Endpoint, LoadConfig, SloConfig, payloads_from_export,
        run_closed_loop, sweep_concurrency, run_open_loop, find_max_rate_under_slo,
    )
    ep = Endpoint(url="http://127.0.0.1:8080", encoding="kserve_v2", model="digits",
                  token=key, input_name="input")  # encoding: a name in encodings.encoding_classes()
    payloads = payloads_from_export(ep, export_dir, manifest, artifact="torchscript")  # encoded once
    cfg = LoadConfig(duration_s=10, min_requests=500, warmup_s=2)
    results = sweep_concurrency(ep, payloads, cfg, levels=(1, 2, 4, 8, 16))  # list[LoadResult]
    one = run_open_loop(ep, payloads, dataclasses.replace(cfg, rate_rps=200))  # LoadResult
    slo = find_max_rate_under_slo(ep, payloads, cfg, SloConfig(p99_bound_ms=50))  # SloResult

All four are synchronous (they run their own asyncio loop); inside a running loop await
`closed_loop.closed_loop` / `open_loop.open_loop` and call `analyze.analyze` on the raw run.
Results are dataclasses with `to_dict`/`from_dict` (JSON-safe). `LoadResult.client_bottleneck`
says the run measured the client, not the server (rule in selfcheck.py).

Modules: encodings (build requests, parse responses, pure; the wire formats: deploy_compare.wire), payload (bodies from eval.npz in the
served artifact's layout/dtype), connections (one keep-alive HTTP/1.1 connection per worker:
httpx requests and errors, llhttp parsing; also an httpx transport), closed_loop / open_loop
(timing only: raw records),
stats (pure numpy), analyze (records -> LoadResult), selfcheck, slo, results, config.
"""

from __future__ import annotations

from .config import ARRIVALS, Endpoint, LoadConfig, SloConfig
from .encodings import Encoding, KServeV2Json, encoding_for
from .payload import Payloads, build_payloads, payloads_from_export
from .results import LoadResult, SloResult, SloTrial
from .runner import DEFAULT_CONCURRENCY, run_closed_loop, run_open_loop, sweep_concurrency
from .slo import find_max_rate_under_slo
from .window import Progress

__all__ = [
    "ARRIVALS",
    "DEFAULT_CONCURRENCY",
    "Endpoint",
    "KServeV2Json",
    "LoadConfig",
    "LoadResult",
    "Payloads",
    "Progress",
    "Encoding",
    "SloConfig",
    "SloResult",
    "SloTrial",
    "encoding_for",
    "build_payloads",
    "find_max_rate_under_slo",
    "payloads_from_export",
    "run_closed_loop",
    "run_open_loop",
    "sweep_concurrency",
]
