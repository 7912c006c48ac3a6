"""Our gRPC load client vs h2load (nghttp2's C HTTP/2 load tool) against the SAME running
server, the SAME pre-encoded unary gRPC request, the same metadata.

    .venv/bin/python bench/grpc_vs_h2load.py                       # starts a native Triton
    .venv/bin/python bench/grpc_vs_h2load.py --target fastapi_onnx  # or torchserve

h2load sends a unary gRPC call as what it is on the wire: an HTTP/2 POST to
/<package.Service>/<Method> with content-type application/grpc and te: trailers, and a
body of one length-prefixed message (flag byte 0, 4-byte big-endian length, the message).
Both tools run closed loops with one connection per concurrent request (h2load: -c C -m 1;
ours: C workers, one channel each), single-threaded, pinned to the same core(s) while the
server gets the others (--no-pin to share). The server first gets --server-warmup s of
unmeasured h2load load; then per level the tools alternate for --rounds rounds
(taking turns at going first) after their own warm-up; medians of the rounds are compared.
h2load's p50 and mean come from its per-request --log-file, which lists only the requests
that completed before -D ran out (ours also waits for those in flight at the end): at a
rate of a few requests/s the c slowest ones missing bias its latency down. h2load
APPENDS to its log file, so each run gets a fresh one (before, every run's latencies were
mixed with all earlier runs': warm-ups and lower levels, which made h2load's c=16 mean look
inconsistent with its throughput). The mean is printed beside p50, and both tools' mean
number of requests in flight by Little's law (throughput x mean latency for ours, summed
logged latencies over the logged span for h2load): a closed loop of C connections shows ~C;
with equal throughput and concurrency Little's law fixes the mean, so a p50 gap with equal
means is a different latency distribution, not client overhead.
--transport grpcio,h2 measures both of our gRPC transports (grpcio's channel and
clients/grpc_h2.py) in the same rounds as h2load, the three tools taking turns at going first.
h2load sees HTTP status only, not the grpc-status trailer: the same body is checked once through our client (OK, correct top-1)
before the levels, so a body the server rejects cannot pass as fast.
Targets (issue 15): our throughput >= 0.90x h2load's, our p50 <= 1.10x at c = 1, 4, 16.
h2load: `apt-get install -y nghttp2-client`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from client_vs_wrk import P50_TARGET, THROUGHPUT_TARGET  # noqa: E402
from deploy_compare.clients import LoadConfig, Payloads, payloads_from_export, run_closed_loop  # noqa: E402
from deploy_compare.clients.connections import GRPC_TRANSPORT_ENV  # noqa: E402
from deploy_compare.clients.grpc_transport import split_target  # noqa: E402
from deploy_compare.deploy.affinity import pin_self, pin_tree, plan_cores, usable_cores  # noqa: E402
from deploy_compare.manifest import load_manifest  # noqa: E402
from deploy_compare.servers.registry import get  # noqa: E402


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message: uncompressed flag, big-endian length, bytes."""
    return struct.pack(">BI", 0, len(message)) + message


def run_h2load(
    url: str, body: Path, headers: dict[str, str], clients: int, duration_s: float, log: Path, cores
) -> dict:
    cmd = ["h2load", "-t1", f"-c{clients}", "-m1", f"-D{max(1, round(duration_s))}", "-d", str(body)]
    for k, v in {"content-type": "application/grpc", "te": "trailers", **headers}.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd += [f"--log-file={log}", url]
    # h2load APPENDS to its --log-file: without this, each run's latencies would be those of
    # every earlier run too (warm-ups and lower levels), biasing its p50 and mean down.
    log.unlink(missing_ok=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if cores:
        pin_tree(proc.pid, cores)
    try:
        out, err = proc.communicate(timeout=duration_s + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if proc.returncode != 0 or done is None or counts is None:
        raise RuntimeError(f"h2load failed ({proc.returncode}): {err.strip() or out.strip()}")
    rows = [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") >= 2]
    starts_us = [int(r[0]) for r in rows]
    statuses = [r[1] for r in rows]
    durations_us = [int(r[2]) for r in rows]
    if not durations_us:
        raise RuntimeError(f"h2load logged no request: {out.strip()}")
    # Little's law check: the mean number of requests in flight over the logged span, as
    # h2load's own latencies say (a closed loop of C connections should show ~C).
    span_us = max(s + d for s, d in zip(starts_us, durations_us)) - min(starts_us)
    in_flight = sum(durations_us) / span_us if span_us > 0 else float("nan")
    durations_us.sort()
    return {
        "throughput_rps": float(done.group(3)),
        "p50_ms": statistics.median(durations_us) / 1e3,
        "mean_ms": statistics.fmean(durations_us) / 1e3,
        "p99_ms": durations_us[min(len(durations_us) - 1, int(0.99 * len(durations_us)))] / 1e3,
        "in_flight": in_flight,
        "requests": int(counts.group(3)),
        "succeeded": int(counts.group(4)),
        "failed": int(counts.group(5)),
        "non_200": sum(1 for s in statuses if s != "200"),
    }


def run_ours(endpoint, payloads: Payloads, level: int, duration_s: float, warmup_s: float) -> dict:
    cfg = LoadConfig(
        duration_s=duration_s,
        warmup_s=warmup_s,
        min_requests=20,
        concurrency=level,
        max_duration_s=max(120.0, 4 * (duration_s + warmup_s)),
    )
    r = run_closed_loop(endpoint, payloads, cfg)
    return {
        "throughput_rps": r.throughput_rps,
        "p50_ms": r.p50_ms,
        "mean_ms": r.mean_ms,
        "p99_ms": r.p99_ms,
        "in_flight": r.mean_ms * r.throughput_rps / 1e3,  # Little's law: ~level in a closed loop
        "requests": r.requests,
        "errors": r.error_count,
        "client_cpu_share": r.client_cpu_share,
        "client_bottleneck": r.client_bottleneck,
    }


@contextlib.contextmanager
def running(target: str, artifacts: Path):
    from deploy_compare.servers import make_launcher

    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-grpc-{target}-"))
    config = get(target).default_config()
    launcher = make_launcher(target, "native", manifest_dir=artifacts, run_dir=run_dir, config=config)
    with launcher:
        yield launcher


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, default=REPO / "artifacts" / "digits_cnn")
    parser.add_argument("--target", default="triton", choices=("triton", "fastapi_onnx", "torchserve"))
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--server-warmup", type=float, default=5.0, help="s of unmeasured h2load load before the first level"
    )
    parser.add_argument(
        "--transport",
        default="h2",
        help="our gRPC transport(s): h2 (clients/grpc_h2.py, the load client's default), grpcio "
        "(grpcio's asyncio channel) or grpcio,h2 (both, interleaved with h2load in the same rounds)",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        print("h2load is not installed: apt-get install -y nghttp2-client", file=sys.stderr)
        return 2
    levels = [int(v) for v in args.levels.split(",")]
    transports = [t.strip() for t in args.transport.split(",")]
    if not set(transports) <= {"grpcio", "h2"}:
        parser.error("--transport: grpcio, h2 or both (comma-separated)")
    manifest = load_manifest(args.artifacts)
    stack = get(args.target)
    plan = plan_cores()
    own = tuple(usable_cores())
    rows = []
    try:
        with running(args.target, args.artifacts) as launcher:
            endpoint = dataclasses.replace(launcher.endpoint, encoding=stack.encoding_name("grpc"))
            full = payloads_from_export(endpoint, args.artifacts, manifest, artifact=stack.artifact)
            payloads = dataclasses.replace(
                full, requests=full.requests[:1], expected_top1=full.expected_top1[:1]
            )  # the SAME call for both tools
            spec = payloads.requests[0]
            os.environ[GRPC_TRANSPORT_ENV] = transports[0]
            check = run_closed_loop(endpoint, payloads, LoadConfig(duration_s=0.5, warmup_s=0, min_requests=5))
            if check.error_count or check.top1_agreement != 1.0:
                raise RuntimeError(f"the request does not succeed through our client: {check.error_examples}")
            target, method = split_target(spec.url)
            url = f"http://{target}{method}"
            pinned = not args.no_pin and not plan.shared
            cores = plan.client if pinned else None
            if pinned:
                pin_tree(launcher.pid, plan.server)
                pin_self(plan.client)
            with tempfile.TemporaryDirectory(prefix="h2load-") as tmp:
                os.chmod(tmp, 0o700)  # the body file and headers hold no key, the metadata does: kept private
                body = Path(tmp) / "call.bin"
                body.write_bytes(grpc_frame(spec.body))
                log = Path(tmp) / "log.tsv"
                # The server's first seconds (allocations, lazy init) are measured by neither tool.
                run_h2load(url, body, spec.headers, 4, args.server_warmup, log, cores)

                def theirs_once(level: int) -> dict:
                    run_h2load(url, body, spec.headers, level, args.warmup, log, cores)  # warm-up
                    return run_h2load(url, body, spec.headers, level, args.duration, log, cores)

                for level in levels:
                    runs: dict[str, list[dict]] = {name: [] for name in (*transports, "h2load")}
                    tools = list(runs)
                    for i in range(args.rounds):
                        # Rotate which tool goes first, so a drift of the server or of the
                        # machine's other load favours none of them.
                        for tool in tools[i % len(tools) :] + tools[: i % len(tools)]:
                            if tool == "h2load":
                                runs[tool].append(theirs_once(level))
                            else:
                                os.environ[GRPC_TRANSPORT_ENV] = tool
                                runs[tool].append(run_ours(endpoint, payloads, level, args.duration, args.warmup))
                    theirs = runs["h2load"]
                    for transport in transports:
                        ours = runs[transport]
                        row = {"concurrency": level, "transport": transport, "ours": ours, "h2load": theirs}
                        for key in ("throughput_rps", "p50_ms", "mean_ms", "p99_ms", "in_flight"):
                            row[f"ours_{key}"] = statistics.median(r[key] for r in ours)
                            row[f"h2load_{key}"] = statistics.median(r[key] for r in theirs)
                        row["throughput_ratio"] = row["ours_throughput_rps"] / row["h2load_throughput_rps"]
                        row["p50_ratio"] = row["ours_p50_ms"] / row["h2load_p50_ms"]
                        row["mean_ratio"] = row["ours_mean_ms"] / row["h2load_mean_ms"]
                        row["meets_targets"] = (
                            row["throughput_ratio"] >= THROUGHPUT_TARGET and row["p50_ratio"] <= P50_TARGET
                        )
                        rows.append(row)
                        print(
                            f"c={level:<3d} {transport:6s} {row['ours_throughput_rps']:8.1f} req/s p50 "
                            f"{row['ours_p50_ms']:7.3f} ms | h2load {row['h2load_throughput_rps']:8.1f} req/s p50 "
                            f"{row['h2load_p50_ms']:7.3f} ms | ratio thr {row['throughput_ratio']:.3f} "
                            f"(>= {THROUGHPUT_TARGET}) p50 {row['p50_ratio']:.3f} (<= {P50_TARGET}) "
                            f"{'OK' if row['meets_targets'] else 'MISS'}"
                            f" | mean ours {row['ours_mean_ms']:.3f} ms h2load {row['h2load_mean_ms']:.3f} ms"
                            f" (ratio {row['mean_ratio']:.3f})"
                            f" | in flight (Little) ours {row['ours_in_flight']:.1f} h2load {row['h2load_in_flight']:.1f}"
                            f" | our client CPU {statistics.median(r['client_cpu_share'] or 0 for r in ours):.0%}",
                            flush=True,
                        )
    finally:
        pin_self(own)
    doc = {
        "bench": "grpc_vs_h2load",
        "target": args.target,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_at_end": os.getloadavg()},
        "settings": {
            "levels": levels,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "pinned": not args.no_pin,
            "server_warmup_s": args.server_warmup,
            "transports": transports,
            "body_bytes": len(spec.body),
        },
        "rows": rows,
        "all_met": all(r["meets_targets"] for r in rows),
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    print("all targets met" if doc["all_met"] else "some targets missed (see ratios above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
