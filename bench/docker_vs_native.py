"""TorchServe in Docker vs TorchServe native, measured in ONE process, interleaved (A B A B).

Both servers get the same server core(s) (Docker: the engine's cpuset; native: the
process tree pinned), one torch thread per server core, and the load client pins itself
to the other cores. The image build is timed apart from start-to-healthy. Figures are
printed and written to bench/results/docker_vs_native.json; on a shared machine compare
them as ratios within one run.

    .venv/bin/python bench/docker_vs_native.py --base-image deploy-compare/torchserve-base:standin-... \\
        [--artifacts .cache/test-artifacts/digits_cnn] [--levels 1,4,16] [--repeats 2] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from deploy_compare.clients import LoadConfig, sweep_concurrency
from deploy_compare.clients.payload import payloads_from_export
from deploy_compare.deploy.affinity import pin_self, pin_tree, plan_cores
from deploy_compare.manifest import load_manifest
from deploy_compare.servers import make_launcher
from deploy_compare.servers.torchserve.config import TorchServeConfig

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--artifacts", type=Path, default=HERE.parent / ".cache/test-artifacts/digits_cnn")
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    plan = plan_cores()
    config = TorchServeConfig(base_image=args.base_image, torch_threads=len(plan.server), start_timeout_s=300)
    load = LoadConfig(duration_s=args.duration, min_requests=200, warmup_s=1.0, timeout_s=10.0)
    manifest = load_manifest(args.artifacts)
    run_dir = Path(tempfile.mkdtemp(prefix="docker-vs-native-"))
    record: dict = {"cores": plan.to_dict(), "levels": levels, "repeats": args.repeats, "servers": {}}

    launchers = {}
    docker = make_launcher("torchserve", "docker", manifest_dir=args.artifacts, run_dir=run_dir, config=config)
    docker.cpuset = tuple(plan.server)
    docker.prepare()
    native = make_launcher("torchserve", "native", manifest_dir=args.artifacts, run_dir=run_dir, config=config)
    own = tuple(sorted(os.sched_getaffinity(0)))
    try:
        docker.start()
        pin_self(plan.server)  # native's tree inherits the server cores at start
        native.start()
        pin_tree(native.pid, plan.server)
        pin_self(plan.client)
        launchers = {"docker": docker, "native": native}
        for name, launcher in launchers.items():
            record["servers"][name] = {
                "image_build_s": round(docker.build_s, 2) if name == "docker" else None,
                "startup_s": round(launcher.startup_s, 2),
                "runs": {str(level): [] for level in levels},
            }
        for _ in range(args.repeats):
            for name, launcher in launchers.items():  # A B A B
                endpoint = launcher.endpoint
                payloads = payloads_from_export(endpoint, args.artifacts, manifest, artifact="torchscript")
                for result in sweep_concurrency(endpoint, payloads, load, levels):
                    record["servers"][name]["runs"][str(result.concurrency)].append(
                        {
                            "throughput_rps": result.throughput_rps,
                            "p50_ms": result.p50_ms,
                            "p99_ms": result.p99_ms,
                            "errors": sum(result.errors.values()),
                        }
                    )
    finally:
        pin_self(own)
        for launcher in (docker, native):
            launcher.stop()
    out = HERE / "results" / "docker_vs_native.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"server cores {list(plan.server)}, client cores {list(plan.client)}; median of {args.repeats} interleaved runs"
    )
    for name, server in record["servers"].items():
        build = f", image build {server['image_build_s']} s" if server["image_build_s"] is not None else ""
        print(f"{name}: start-to-healthy {server['startup_s']} s{build}")
        for level, runs in server["runs"].items():
            rps = statistics.median(r["throughput_rps"] for r in runs)
            p50 = statistics.median(r["p50_ms"] for r in runs)
            spread = f"{min(r['throughput_rps'] for r in runs):.0f}-{max(r['throughput_rps'] for r in runs):.0f}"
            print(f"  c={level:>2}: {rps:7.1f} req/s (runs {spread}), p50 {p50:6.2f} ms")
    print(f"written {out}")


if __name__ == "__main__":
    main()
