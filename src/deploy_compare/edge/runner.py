#!/usr/bin/env python3
"""run_edge.py: benchmark this bundle's TFLite models on this device (deploy-compare edge runner).

Needs only Python >= 3.9, numpy and ai-edge-litert (or tflite-runtime); no torch, no
TensorFlow, no deploy-compare:

    python3 -m pip install numpy ai-edge-litert        # or: numpy tflite-runtime
    python3 run_edge.py --device pi4 --out pi4.json     # add --quick for a first look
    # back on the machine with deploy-compare:
    deploy-compare ingest-edge pi4.json --run runs/latest

Every (model, thread count) runs in a fresh child process of this script, pinned to
that many cores where the OS allows it (--no-pin to turn that off), so thread pools,
peak memory and pinning never carry over between rows. The JSON written is the same
schema as `deploy-compare bench-local` (profile "edge", plus --device and this
machine's description), so the report shows these rows next to the local ones.

Where this comes from: deploy_compare/edge/runner.py holds only the runner's own part
(arguments, one child process per row, emulation notes) and imports the package's pure
modules: each row is measured by bench_local/job.py's measure_artifact, with the TFLite
runtime of runtimes/ and the eval-data reader of evaldata.py, as in the local benchmark;
`python -m deploy_compare.edge.runner` runs it in the source tree. `deploy-compare edge-bundle` assembles run_edge.py from the
source of those modules and this one (deploy_compare/edge/assemble.py), so the device
times, counts and computes with the very code the local benchmark uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import socket
import sys
from pathlib import Path
from typing import List, Optional

# The pure modules: in run_edge.py these imports are replaced by the modules' source.
from ..bench_local.job import base_result, measure_artifact, run_measurement_process
from ..bench_local.procedure import MeasureSettings
from ..bench_local.result import DEVICE_LABEL_PATTERN, BenchResult, results_document
from ..errors import DeployCompareError, RuntimeUnavailable
from ..fileio import write_json_atomic
from ..manifest import MANIFEST_NAME, Manifest, load_manifest
from ..runtimes.base import Runtime
from ..runtimes.tflite import TFLiteRuntime

SAMPLES_NAME = "sample_inputs.npz"  # EvalData of the first samples: x (logical layout), reference, y
#: <out>.partial: the rows measured so far, replaced after each row, removed when <out> is written
PARTIAL_SUFFIX = ".partial"


def tflite_only(format_name: str) -> type[Runtime]:
    """The runtime for a format on the device: TFLite (the bundle holds nothing else)."""
    if format_name != "tflite":
        raise RuntimeUnavailable("the edge runner measures TFLite models only, not %s" % format_name)
    return TFLiteRuntime


def _int_list(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers like 1,4, got %r" % text) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected integers >= 1, got %r" % text)
    return values


def _device_label(text: str) -> str:
    if not DEVICE_LABEL_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            "device label %r: use 1-64 letters, digits, '.', '_' or '-' (it becomes a file name)" % text
        )
    return text


def default_device_label() -> str:
    """This machine's host name, made a valid label (it becomes a file name when ingested)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", socket.gethostname().split(".")[0]).strip("-._")[:64]
    return name if name and DEVICE_LABEL_PATTERN.match(name) else "device"


#: an x86 CPU described by /proc/cpuinfo while Python says ARM: qemu user emulation passes the host's file through
#: or the Hardware line of the cpuinfo deploy-compare's emulated arm64 root file system provides
_X86_CPUINFO = re.compile(
    r"^(vendor_id\s*:\s*(GenuineIntel|AuthenticAMD)|flags\s*:.*\bsse2\b|Hardware\s*:\s*qemu-user emulation)",
    re.MULTILINE,
)


def detect_emulation() -> Optional[str]:
    """A description when this ARM Python runs under user-mode emulation on an x86 host, else None."""
    machine = platform.machine().lower()
    if not (machine.startswith("arm") or machine == "aarch64"):
        return None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            cpuinfo = fh.read()
    except OSError:
        return None
    if _X86_CPUINFO.search(cpuinfo):
        return "user-mode emulation of %s (detected from /proc/cpuinfo)" % machine
    return None


def mark_emulated(result: BenchResult, how: str) -> None:
    """Latencies under emulation are the emulator's, not a device's: say so in the row itself."""
    result.machine = dict(result.machine, emulated=how)
    result.notes.append("EMULATED (%s): timings are not a device's; only correctness counts" % how)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_edge.py",
        description="Benchmark this bundle's TFLite models on this device "
        "(same figures and JSON schema as `deploy-compare bench-local`).",
    )
    parser.add_argument(
        "--device",
        type=_device_label,
        default=None,
        help="a label for this device, e.g. pi4 or pixel7 (letters, digits, . _ -; default: the host name)",
    )
    parser.add_argument(
        "--threads",
        type=_int_list,
        default=[1],
        help="comma-separated thread counts, each pinned to that many cores (default: 1)",
    )
    parser.add_argument("--quick", action="store_true", help="short runs (rough figures)")
    parser.add_argument("--out", default=None, help="results JSON (default: edge_result_<device>.json)")
    parser.add_argument("--only", default=None, help="comma-separated model names (default: all in the bundle)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to cores")
    parser.add_argument(
        "--bundle",
        default=os.path.dirname(os.path.abspath(__file__)),
        help="bundle directory (default: this script's directory)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per measurement")
    parser.add_argument(
        "--emulator",
        default=None,
        help="this Python runs under a user-mode emulator: start each measurement process with this "
        "command in front (e.g. 'qemu-aarch64-static -L ROOTFS'); the results are marked emulated",
    )
    # internal: one measurement in a child process
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    return parser


def _child_main(args: argparse.Namespace, settings: MeasureSettings) -> int:
    """One (model, threads) measurement in this process, the very code the local benchmark's worker runs."""
    result = measure_artifact(
        args.bundle,
        args.child,
        "edge",
        args.child_threads,
        not args.no_pin,
        settings,
        tflite_only,
        device=args.device,
        eval_name=SAMPLES_NAME,
    )
    write_json_atomic(Path(args.child_out), result.to_dict())
    return 0


def _self_command(emulator: Optional[str] = None) -> List[str]:
    """How to start this runner again, in a child process (behind the emulator, when under one:
    without binfmt_misc an ARM binary cannot be exec'd directly on an x86 host)."""
    prefix = shlex.split(emulator) if emulator else []
    if __package__:  # deploy_compare.edge.runner in the source tree: its relative imports need -m
        return prefix + [sys.executable, "-m", __spec__.name]
    return prefix + [sys.executable, os.path.abspath(__file__)]  # the bundle's standalone run_edge.py


def _run_one(
    args: argparse.Namespace, manifest: Manifest, name: str, threads: int, settings: MeasureSettings
) -> BenchResult:
    cmd = _self_command(args.emulator) + ["--device", args.device, "--bundle", args.bundle]
    cmd += ["--child", name, "--child-threads", str(threads)]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--no-pin"] if args.no_pin else []
    cmd += ["--child-out"]

    def failed(reason: str) -> BenchResult:
        return base_result(manifest, name, "edge", threads, args.device, settings, "FAILED", reason)

    result, _ = run_measurement_process(cmd, args.timeout, failed)
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    settings = MeasureSettings.quick() if args.quick else MeasureSettings()
    if args.device is None:
        args.device = default_device_label()
    if args.child is not None:
        return _child_main(args, settings)
    emulated = ("emulator: " + args.emulator) if args.emulator else detect_emulation()
    if not os.path.isfile(os.path.join(args.bundle, MANIFEST_NAME)):
        print(
            "run_edge.py: error: %s: not found (run this script inside the bundle, or pass --bundle DIR)"
            % os.path.join(args.bundle, MANIFEST_NAME),
            file=sys.stderr,
        )
        return 2
    try:
        manifest = load_manifest(args.bundle)
    except DeployCompareError as exc:
        print("run_edge.py: error: %s" % exc, file=sys.stderr)
        return 2
    names = [n for n, e in manifest.artifacts.items() if e.format == "tflite"]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            print(
                "run_edge.py: error: unknown model(s) %s; the bundle has: %s" % (", ".join(unknown), ", ".join(names)),
                file=sys.stderr,
            )
            return 2
        names = wanted
    out = args.out or "edge_result_%s.json" % args.device
    command = ["run_edge.py"] + list(sys.argv[1:] if argv is None else argv)
    results = []  # type: List[BenchResult]
    total = len(names) * len(args.threads)
    for name in names:
        for threads in args.threads:
            print("[%d/%d] %s, %d thread(s): measuring..." % (len(results) + 1, total, name, threads), flush=True)
            result = _run_one(args, manifest, name, threads, settings)
            if emulated:
                mark_emulated(result, emulated)
            detail = (
                "p50 %.3f ms end-to-end (invoke-only %s), p99 %.3f ms, batch-32 %.0f samples/s, top-1 %.1f%%"
                % (
                    float("nan") if result.p50_ms is None else result.p50_ms,
                    "n/a" if result.invoke_p50_ms is None else "%.3f ms" % result.invoke_p50_ms,
                    float("nan") if result.p99_ms is None else result.p99_ms,
                    result.throughput_samples_per_s.get(32, float("nan")),
                    100 * (result.top1_agreement or 0),
                )
                if result.status == "OK"
                else result.reason
            )
            print("        %s: %s" % (result.status, detail), flush=True)
            results.append(result)
            # the rows so far, beside the final file: a run killed on the device keeps what it measured
            write_json_atomic(Path(out + PARTIAL_SUFFIX), results_document(results, args.device, command))
    write_json_atomic(Path(out), results_document(results, args.device, command))
    if os.path.exists(out + PARTIAL_SUFFIX):
        os.remove(out + PARTIAL_SUFFIX)
    print("wrote %s" % out)
    ok = [r for r in results if r.status == "OK"]
    failed = [r for r in results if r.status == "FAILED"]
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
