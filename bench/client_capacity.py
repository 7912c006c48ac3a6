"""The load client's own capacity: requests/s it can drive against a trivial local endpoint.

    .venv/bin/python bench/client_capacity.py [--duration 3] [--json out.json]

The endpoint is bench/trivial_http_server.py in a child process (a minimal asyncio HTTP/1.1
server with a fixed JSON answer), pinned away from the client when there are >= 2 cores; wrk against
it shows the endpoint is not the limit. Then: closed-loop throughput and the client's CPU
per request at several concurrencies, and the highest open-loop rate at which the client
still keeps its schedule (not flagged as the bottleneck). Any server that answers faster
than these rates is measured by the client, not the other way round: read a run's
`client_bottleneck` flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from deploy_compare.clients import Endpoint, LoadConfig, build_payloads, run_closed_loop, run_open_loop  # noqa: E402
from deploy_compare.deploy.affinity import pin_self, pin_tree, plan_cores, usable_cores  # noqa: E402


def wrk_rps(url: str, body: bytes, connections: int, duration_s: float, cores) -> float | None:
    if shutil.which("wrk") is None:
        return None
    from client_vs_wrk import run_wrk, write_wrk_script

    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        script = write_wrk_script(Path(tmp), body, {"Content-Type": "application/json"})
        return run_wrk(url, script, connections, duration_s, 5.0, cores)["throughput_rps"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--rates", default="1000,2000,4000,8000,16000,32000")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    plan = plan_cores()
    own = tuple(usable_cores())
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "trivial_http_server.py")], stdout=subprocess.PIPE, text=True
    )
    doc: dict = {
        "bench": "client_capacity",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "pinned": None if plan.shared else plan.to_dict(),
    }
    try:
        port = int(proc.stdout.readline())
        if not plan.shared:
            pin_tree(proc.pid, plan.server)
            pin_self(plan.client)
        ep = Endpoint(url=f"http://127.0.0.1:{port}", encoding="torchserve", model="trivial")
        x = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32)
        payloads = build_payloads(ep, x)
        base = LoadConfig(duration_s=args.duration, warmup_s=0.5, min_requests=100, timeout_s=5.0)
        spec = payloads.requests[0]
        wrk16 = wrk_rps(spec.url, spec.body, 16, args.duration, None if plan.shared else plan.client)
        doc["wrk_rps_c16"] = wrk16
        print(
            "trivial endpoint under wrk (16 connections): "
            + ("wrk not installed" if wrk16 is None else f"{wrk16:,.0f} req/s"),
            flush=True,
        )
        closed = []
        for level in [int(v) for v in args.levels.split(",")]:
            r = run_closed_loop(ep, payloads, dataclasses.replace(base, concurrency=level))
            cpu_us = (r.client_cpu_share or 0) * 1e6 / max(r.throughput_rps, 1e-9)
            closed.append(
                {
                    "concurrency": level,
                    "throughput_rps": r.throughput_rps,
                    "p50_ms": r.p50_ms,
                    "client_cpu_share": r.client_cpu_share,
                    "client_cpu_us_per_request": cpu_us,
                    "client_bottleneck": r.client_bottleneck,
                    "errors": r.error_count,
                }
            )
            print(
                f"closed c={level:<3d} {r.throughput_rps:8,.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
                f"client CPU {r.client_cpu_share:4.0%}  {cpu_us:5.0f} us/request"
                + ("  [client-bound]" if r.client_bottleneck else ""),
                flush=True,
            )
        doc["closed"] = closed
        opened, best, flagged = [], None, False
        for rate in [float(v) for v in args.rates.split(",")]:
            r = run_open_loop(ep, payloads, dataclasses.replace(base, rate_rps=rate, max_in_flight=64))
            opened.append(
                {
                    "rate_rps": rate,
                    "throughput_rps": r.throughput_rps,
                    "late_share": r.late_share,
                    "client_cpu_share": r.client_cpu_share,
                    "p99_ms": r.p99_ms,
                    "dropped": r.dropped,
                    "client_bottleneck": r.client_bottleneck,
                    "reasons": r.bottleneck_reasons,
                }
            )
            print(
                f"open {rate:7,.0f}/s  got {r.throughput_rps:8,.0f} req/s  late {r.late_share:6.1%}  "
                f"client CPU {r.client_cpu_share:4.0%}  p99 {r.p99_ms:7.2f} ms  dropped {r.dropped}"
                + ("  [client-bound]" if r.client_bottleneck else ""),
                flush=True,
            )
            flagged = flagged or r.client_bottleneck
            if not flagged:
                best = rate  # the highest rate below the first flagged one (later rates are still run)
        doc["open"] = opened
        doc["max_open_loop_rate_not_client_bound_rps"] = best
        doc["max_closed_loop_rps"] = max(c["throughput_rps"] for c in closed)
        print(
            f"capacity: closed loop up to {doc['max_closed_loop_rps']:,.0f} req/s; open loop keeps its schedule "
            f"up to {best if best is not None else 0:,.0f} req/s (of the rates tried)"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pin_self(own)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
