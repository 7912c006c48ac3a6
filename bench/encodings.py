"""JSON vs binary vs gRPC, per serving stack, on the same running server: p50, p99, req/s
and bytes per request / response at each concurrency.

    .venv/bin/python bench/encodings.py                                   # torchserve, triton, fastapi_onnx
    .venv/bin/python bench/encodings.py --targets triton --levels 1,16 --rounds 3

Each target is started natively once (its default settings); then, per level, its encodings
take turns (A B C, then B C A, ...) for --rounds rounds and the medians are reported, so a
drift of the shared machine favours none. The ratio column is each encoding's p50 over the
stack's best p50 at that level (what JSON costs against the stack's best encoding).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from deploy_compare.clients import LoadConfig, payloads_from_export, run_closed_loop  # noqa: E402
from deploy_compare.deploy.served import encoding_plans  # noqa: E402
from deploy_compare.manifest import load_manifest  # noqa: E402
from deploy_compare.servers.registry import get  # noqa: E402

ENCODINGS = ("json", "binary", "grpc")


def measure(target: str, args, manifest) -> list[dict]:
    from deploy_compare.servers import make_launcher

    stack = get(target)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-enc-{target}-"))
    launcher = make_launcher(
        target, "native", manifest_dir=args.artifacts, run_dir=run_dir, config=stack.default_config()
    )
    rows = []
    with launcher:
        plans = [p for p in encoding_plans(stack, launcher.endpoint, ENCODINGS, "native")]
        ready = [p for p in plans if p.reason is None]
        for p in plans:
            if p.reason is not None:
                print(f"{target} {p.encoding}: SKIPPED: {p.reason}", flush=True)
        payloads = {
            p.encoding: payloads_from_export(p.endpoint, args.artifacts, manifest, artifact=stack.artifact)
            for p in ready
        }
        for level in args.levels:
            cfg = LoadConfig(duration_s=args.duration, warmup_s=args.warmup, min_requests=50, concurrency=level)
            runs: dict[str, list] = {p.encoding: [] for p in ready}
            for i in range(args.rounds):
                order = ready[i % len(ready) :] + ready[: i % len(ready)]
                for p in order:
                    runs[p.encoding].append(run_closed_loop(p.endpoint, payloads[p.encoding], cfg))
            level_rows = []
            for encoding, results in runs.items():
                level_rows.append(
                    {
                        "target": target,
                        "encoding": encoding,
                        "concurrency": level,
                        "p50_ms": statistics.median(r.p50_ms for r in results),
                        "p99_ms": statistics.median(r.p99_ms for r in results),
                        "throughput_rps": statistics.median(r.throughput_rps for r in results),
                        "request_bytes": results[0].request_bytes,
                        "response_bytes": results[0].response_bytes,
                        "errors": sum(r.error_count for r in results),
                        "top1_agreement": min((r.top1_agreement or 0.0) for r in results),
                        "client_bottleneck": any(r.client_bottleneck for r in results),
                    }
                )
            best = min(r["p50_ms"] for r in level_rows)
            for row in level_rows:
                row["p50_vs_best"] = row["p50_ms"] / best
                print(
                    f"{target:13s} {row['encoding']:7s} c={level:<3d} p50 {row['p50_ms']:7.3f} ms  "
                    f"p99 {row['p99_ms']:7.3f} ms  {row['throughput_rps']:8.1f} req/s  "
                    f"{row['request_bytes']:>7} B out / {row['response_bytes']:>5} B back  "
                    f"p50 x{row['p50_vs_best']:.2f} of best  errors {row['errors']}"
                    + ("  [client-bound]" if row["client_bottleneck"] else ""),
                    flush=True,
                )
            rows.extend(level_rows)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, default=REPO / "artifacts" / "digits_cnn")
    parser.add_argument("--targets", default="torchserve,triton,fastapi_onnx")
    parser.add_argument("--levels", default="1,16", type=lambda t: [int(v) for v in t.split(",")])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    manifest = load_manifest(args.artifacts)
    rows = []
    for target in args.targets.split(","):
        reason = get(target).native_reason()
        if reason:
            print(f"{target}: SKIPPED: {reason}", flush=True)
            continue
        rows.extend(measure(target, args, manifest))
    doc = {
        "bench": "encodings",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_at_end": os.getloadavg()},
        "settings": {"levels": args.levels, "duration_s": args.duration, "rounds": args.rounds},
        "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
