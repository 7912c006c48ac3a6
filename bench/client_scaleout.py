"""The load client on 1 vs 2 client processes (Ray actors, clients/distributed.py).

    .venv/bin/python bench/client_scaleout.py [--duration 5] [--torchserve ARTIFACTS_DIR] [--json out.json]

1. Against bench/trivial_http_server.py (never the bottleneck of ONE client process): closed
   loop at the same total concurrency from this process alone, from 1 actor and from 2 actors;
   req/s and client CPU per request (sum of the actors' loop-thread CPU / requests), and the
   2-vs-1 ratio. On a machine with fewer free cores than server + client processes the ratio
   shows the cores, not the client: read it next to the machine line.
2. With --torchserve DIR (an export directory): a real native TorchServe on the exported
   TorchScript model, one open-loop rate, interleaved single-process / 2 actors / single / 2
   actors: p50 and p99 of each, so the merged figure can be compared with the single-process
   one at the same offered rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

from deploy_compare.clients import (  # noqa: E402
    Endpoint,
    LoadConfig,
    LoadResult,
    build_payloads,
    run_closed_loop,
    run_open_loop,
)
from deploy_compare.clients.distributed import ClientPool, ScaleOut  # noqa: E402


def cpu_us_per_request(r: LoadResult) -> float:
    """Client CPU (all processes) per good request, in microseconds."""
    shares = [a.get("client_cpu_share") or 0.0 for a in r.client_actors] or [r.client_cpu_share or 0.0]
    return sum(shares) * 1e6 / max(r.throughput_rps, 1e-9)


def row(label: str, r: LoadResult) -> dict:
    d = {
        "client": label,
        "throughput_rps": r.throughput_rps,
        "client_cpu_us_per_request": cpu_us_per_request(r),
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "requests": r.requests,
        "errors": r.error_count,
        "client_bottleneck": r.client_bottleneck,
        "reasons": r.bottleneck_reasons,
    }
    print(
        f"{label:28s} {r.throughput_rps:9,.0f} req/s  {d['client_cpu_us_per_request']:6.1f} us CPU/request  "
        f"p50 {r.p50_ms:7.3f} ms  p99 {r.p99_ms:7.3f} ms  errors {r.error_count}"
        + ("  [client-bound]" if r.client_bottleneck else ""),
        flush=True,
    )
    return d


def trivial(args, doc: dict) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "trivial_http_server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline())
        ep = Endpoint(url=f"http://127.0.0.1:{port}", encoding="torchserve", model="trivial")
        x = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32)
        payloads = build_payloads(ep, x)
        cfg = LoadConfig(duration_s=args.duration, warmup_s=0.5, min_requests=100, concurrency=args.concurrency)
        rows = [row(f"this process, c={cfg.concurrency}", run_closed_loop(ep, payloads, cfg))]
        for n in (1, 2):
            with ClientPool(ScaleOut(processes=n)) as pool:
                pool.run_closed(ep, payloads, dataclasses.replace(cfg, duration_s=1.0))  # actors placed, warm
                rows.append(row(f"{n} actor(s), c={cfg.concurrency}", pool.run_closed(ep, payloads, cfg)))
        one, two = rows[1], rows[2]
        doc["trivial"] = {
            "rows": rows,
            "ratio_2_vs_1_throughput": two["throughput_rps"] / one["throughput_rps"],
            "ratio_2_vs_1_cpu_per_request": two["client_cpu_us_per_request"] / one["client_cpu_us_per_request"],
        }
        print(
            f"2 vs 1 client processes: throughput x{doc['trivial']['ratio_2_vs_1_throughput']:.2f}, "
            f"CPU per request x{doc['trivial']['ratio_2_vs_1_cpu_per_request']:.2f}",
            flush=True,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def torchserve(args, doc: dict) -> None:
    from deploy_compare.clients import payloads_from_export
    from deploy_compare.manifest import load_manifest
    from deploy_compare.servers import make_launcher
    from deploy_compare.servers.torchserve.config import TorchServeConfig

    run_dir = Path(args.work) / "torchserve"
    config = TorchServeConfig(workers=1, batch_size=1, torch_threads=1)
    launcher = make_launcher("torchserve", "native", manifest_dir=args.torchserve, run_dir=run_dir, config=config)
    with launcher:
        endpoint = launcher.endpoint
        payloads = payloads_from_export(
            endpoint, args.torchserve, load_manifest(args.torchserve), artifact="torchscript", max_payloads=64
        )
        cfg = LoadConfig(
            duration_s=args.duration, warmup_s=1.0, min_requests=200, rate_rps=args.rate, timeout_s=10.0, seed=1
        )
        rows = []
        with ClientPool(ScaleOut(processes=2)) as pool:
            pool.run_open(endpoint, payloads, dataclasses.replace(cfg, duration_s=1.0))  # actors placed, warm
            for rep in range(args.repeats):
                rows.append(
                    {"rep": rep, **row(f"this process, {args.rate:g}/s", run_open_loop(endpoint, payloads, cfg))}
                )
                rows.append({"rep": rep, **row(f"2 actors, {args.rate:g}/s", pool.run_open(endpoint, payloads, cfg))})
        doc["torchserve"] = {"rate_rps": args.rate, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--torchserve", type=Path, default=None, help="export directory: also measure TorchServe")
    parser.add_argument("--rate", type=float, default=100.0, help="TorchServe open-loop rate (req/s)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp") / f"client-scaleout-{os.getpid()}")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    doc: dict = {
        "bench": "client_scaleout",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
    }
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared machines: noisy)")
    trivial(args, doc)
    if args.torchserve is not None:
        torchserve(args, doc)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
