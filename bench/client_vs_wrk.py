"""Our httpx load client vs wrk against the SAME running TorchServe, same body, same headers.

    .venv/bin/python bench/client_vs_wrk.py                      # starts a native TorchServe
    .venv/bin/python bench/client_vs_wrk.py --url http://127.0.0.1:8080 --token-file key_file.json

Both tools run closed loops (wrk: one connection = one outstanding request; ours: one worker
per connection) at concurrency 1, 4 and 16, single-threaded, pinned to the same core(s)
while the server gets the others (--no-pin to share). The server first gets --server-warmup
seconds of unmeasured load (JIT); then per level the two tools alternate for --rounds rounds,
taking turns at going first, and the median of the rounds is compared.
Targets (issue 5): our throughput >= 0.90x wrk's and our p50 <= 1.10x wrk's at each level.
wrk needs a Lua script to POST a body with headers; it is written to a private temp dir
(it holds the inference key) and deleted afterwards. wrk: `apt-get install -y wrk`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from deploy_compare.clients import Endpoint, LoadConfig, Payloads, payloads_from_export, run_closed_loop  # noqa: E402
from deploy_compare.deploy.affinity import pin_self, pin_tree, plan_cores, usable_cores  # noqa: E402
from deploy_compare.manifest import load_manifest  # noqa: E402

THROUGHPUT_TARGET = 0.90
P50_TARGET = 1.10

LUA = """
wrk.method = "POST"
wrk.body = io.open(%(body)q, "rb"):read("*a")
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p90_us\\":%%d,\\"p99_us\\":%%d," ..
    "\\"max_us\\":%%d,\\"mean_us\\":%%f,\\"connect\\":%%d,\\"read\\":%%d,\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for these values


def write_wrk_script(directory: Path, body: bytes, headers: dict[str, str]) -> Path:
    body_path = directory / "body.json"
    body_path.write_bytes(body)
    lines = "\n".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
    script = directory / "post.lua"
    script.write_text(
        LUA.replace("%(body)q", lua_string(str(body_path))).replace("%(headers)s", lines).replace("%%", "%")
    )
    return script


def run_wrk(
    url: str, script: Path, connections: int, duration_s: float, timeout_s: float, cores: tuple[int, ...] | None
) -> dict:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if cores:
        pin_tree(proc.pid, cores)  # also inherited: this process already runs on the client cores
    try:
        out, err = proc.communicate(timeout=duration_s + timeout_s + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    d = json.loads(line[len("WRKJSON ") :])
    return {
        "throughput_rps": d["requests"] / (d["duration_us"] / 1e6),
        "p50_ms": d["p50_us"] / 1e3,
        "p90_ms": d["p90_us"] / 1e3,
        "p99_ms": d["p99_us"] / 1e3,
        "max_ms": d["max_us"] / 1e3,
        "mean_ms": d["mean_us"] / 1e3,
        "requests": d["requests"],
        "errors": {k: d[k] for k in ("connect", "read", "write", "status", "timeout")},
    }


def tree_cpu_s(pid: int | None) -> float | None:
    """CPU seconds used so far by a process and its children (the server under test)."""
    if pid is None:
        return None
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def with_server_cpu(pid: int | None, fn, *args) -> dict:
    """Run fn and add the server's CPU time per request it served (ms) to its result.

    Divides by every request the server saw during fn (`requests_total`: ours includes its
    warm-up and preflight), so the two tools are charged alike.
    """
    before = tree_cpu_s(pid)
    out = fn(*args)
    after = tree_cpu_s(pid)
    total = out.get("requests_total", out["requests"])
    if before is not None and after is not None and total:
        out["server_cpu_ms_per_request"] = (after - before) * 1e3 / total
    return out


def run_ours(
    endpoint: Endpoint, payloads: Payloads, connections: int, duration_s: float, warmup_s: float, timeout_s: float
) -> dict:
    cfg = LoadConfig(
        duration_s=duration_s,
        warmup_s=warmup_s,
        min_requests=20,
        timeout_s=timeout_s,
        concurrency=connections,
        max_duration_s=max(120.0, 4 * (duration_s + warmup_s)),
    )
    seen = {"completed": 0}

    def progress(p) -> None:
        seen["completed"] = p.completed

    r = run_closed_loop(endpoint, payloads, cfg, on_progress=progress)
    return {
        "requests_total": seen["completed"] + 1,  # + the preflight request
        "throughput_rps": r.throughput_rps,
        "p50_ms": r.p50_ms,
        "p90_ms": r.p90_ms,
        "p99_ms": r.p99_ms,
        "max_ms": r.max_ms,
        "mean_ms": r.mean_ms,
        "requests": r.requests,
        "errors": r.errors,
        "client_cpu_share": r.client_cpu_share,
        "client_cpu_wait_share": r.client_cpu_wait_share,
        "client_bottleneck": r.client_bottleneck,
        "top1_agreement": r.top1_agreement,
    }


@contextlib.contextmanager
def torchserve(args):
    """A running TorchServe: the one given by --url, or a native one started here."""
    if args.url:
        token = None
        if args.token_file:
            text = Path(args.token_file).read_text().strip()
            token = json.loads(text)["inference"]["key"] if text.startswith("{") else text
        yield args.url, args.model, ({"Authorization": f"Bearer {token}"} if token else {}), None
        return
    from deploy_compare.servers import make_launcher
    from deploy_compare.servers.torchserve.config import TorchServeConfig

    run_dir = Path(tempfile.mkdtemp(prefix="bench-ts-", dir=REPO / "runs" if (REPO / "runs").is_dir() else None))
    config = TorchServeConfig(workers=args.workers, batch_size=1, torch_threads=1)
    launcher = make_launcher("torchserve", "native", manifest_dir=args.artifacts, run_dir=run_dir, config=config)
    with launcher:
        ep = launcher.endpoint
        yield ep.base_url, ep.model_name, dict(ep.headers), launcher.pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, default=REPO / "artifacts" / "digits_cnn")
    parser.add_argument("--url", default=None, help="a running TorchServe (default: start a native one)")
    parser.add_argument("--model", default="digits_cnn")
    parser.add_argument("--token-file", default=None)
    parser.add_argument("--workers", type=int, default=1, help="TorchServe workers when started here")
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-warmup", type=float, default=10.0, help="s of unmeasured load before the first level")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--no-pin", action="store_true", help="do not split cores between server and clients")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    levels = [int(v) for v in args.levels.split(",")]
    manifest = load_manifest(args.artifacts)
    plan = plan_cores()
    own = tuple(usable_cores())
    rows = []
    try:
        with torchserve(args) as (base_url, model, headers, server_pid):
            endpoint = Endpoint(url=base_url, encoding="torchserve", model=model, headers=headers)
            full = payloads_from_export(endpoint, args.artifacts, manifest, artifact="torchscript")
            # The SAME body for both tools: the first eval sample, pre-encoded once.
            payloads = Payloads(requests=full.requests[:1], batch_size=1, expected_top1=full.expected_top1[:1])
            spec = payloads.requests[0]
            pinned = not args.no_pin and not plan.shared
            client_cores = plan.client if pinned else None
            if pinned:
                if server_pid is not None:
                    threads = pin_tree(server_pid, plan.server)  # every thread: affinity is per thread
                    print(
                        f"server pinned to cores {list(plan.server)}: {threads} threads; "
                        f"clients on {list(plan.client)}",
                        flush=True,
                    )
                pin_self(plan.client)
            with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
                os.chmod(tmp, 0o700)
                script = write_wrk_script(Path(tmp), spec.body, spec.headers)
                # A fresh JVM answers slower until its JIT has compiled the hot paths; neither tool
                # should be measured against that, so the server is warmed up once, unmeasured.
                run_wrk(spec.url, script, 4, args.server_warmup, args.timeout, client_cores)

                def ours_once(level: int) -> dict:
                    return with_server_cpu(
                        server_pid, run_ours, endpoint, payloads, level, args.duration, args.warmup, args.timeout
                    )  # warm-up inside, excluded

                def wrk_once(level: int) -> dict:
                    run_wrk(spec.url, script, level, args.warmup, args.timeout, client_cores)  # warm-up
                    return with_server_cpu(
                        server_pid, run_wrk, spec.url, script, level, args.duration, args.timeout, client_cores
                    )

                for level in levels:
                    ours, theirs = [], []
                    for i in range(args.rounds):
                        # Alternate which tool goes first, so a drift of the server favours neither.
                        if i % 2 == 0:
                            ours.append(ours_once(level))
                            theirs.append(wrk_once(level))
                        else:
                            theirs.append(wrk_once(level))
                            ours.append(ours_once(level))
                    row = {"concurrency": level, "ours": ours, "wrk": theirs}
                    for key in ("throughput_rps", "p50_ms", "p99_ms"):
                        row[f"ours_{key}"] = statistics.median(r[key] for r in ours)
                        row[f"wrk_{key}"] = statistics.median(r[key] for r in theirs)
                    row["throughput_ratio"] = row["ours_throughput_rps"] / row["wrk_throughput_rps"]
                    row["p50_ratio"] = row["ours_p50_ms"] / row["wrk_p50_ms"]
                    row["meets_targets"] = (
                        row["throughput_ratio"] >= THROUGHPUT_TARGET and row["p50_ratio"] <= P50_TARGET
                    )
                    rows.append(row)
                    print(
                        f"c={level:<3d} ours {row['ours_throughput_rps']:8.1f} req/s p50 {row['ours_p50_ms']:7.2f} ms"
                        f" | wrk {row['wrk_throughput_rps']:8.1f} req/s p50 {row['wrk_p50_ms']:7.2f} ms"
                        f" | ratio thr {row['throughput_ratio']:.3f} (>= {THROUGHPUT_TARGET}) p50 "
                        f"{row['p50_ratio']:.3f} (<= {P50_TARGET}) {'OK' if row['meets_targets'] else 'MISS'}"
                        f" | our client CPU {statistics.median(r['client_cpu_share'] for r in ours):.0%}"
                        f" (+ waiting for a CPU {statistics.median(r['client_cpu_wait_share'] or 0 for r in ours):.0%})"
                        + (
                            f" | server CPU/request ours {statistics.median(r['server_cpu_ms_per_request'] for r in ours):.2f}"
                            f" ms, wrk {statistics.median(r['server_cpu_ms_per_request'] for r in theirs):.2f} ms"
                            if "server_cpu_ms_per_request" in ours[0]
                            else ""
                        ),
                        flush=True,
                    )
    finally:
        pin_self(own)
    doc = {
        "bench": "client_vs_wrk",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_at_end": os.getloadavg()},
        "pinned": {"server": list(plan.server), "clients": list(plan.client)} if not args.no_pin else None,
        "settings": {
            "levels": levels,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "server_warmup_s": args.server_warmup,
            "rounds": args.rounds,
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
