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
and imports the package's pure measurement modules (bench_local/timing, stats,
procedure, environment, result, quantization.py and tflite_invoke.py);
`python -m deploy_compare.edge.runner` runs it in the source tree. `deploy-compare edge-bundle` assembles run_edge.py from the
source of those modules and this one (deploy_compare/edge/assemble.py), so the device
times, counts and computes with the very code the local benchmark uses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

# The pure modules: in run_edge.py these imports are replaced by the modules' source.
from ..batches import Batch, from_npz, is_named, take
from ..bench_local.environment import machine_description, peak_rss_mib, pin_to_cores
from ..bench_local.procedure import MeasureSettings, measure, measure_invoke_only
from ..bench_local.result import DEVICE_LABEL_PATTERN, BenchResult, failure_reason, results_document
from ..quantization import dequantize, quantize
from ..tflite_invoke import BatchInvoker, KernelCoverage, kernel_coverage

MANIFEST_NAME = "manifest.json"
SAMPLES_NAME = "sample_inputs.npz"  # x (logical layout, float32), reference (float32 logits), y
XNNPACK_LOG_LINE = "XNNPACK delegate"


class RunnerError(Exception):
    """A problem reported as one line: a bad bundle, a corrupt model, a wrong input."""


class RuntimeMissing(RunnerError):
    """No TFLite runtime package here: the rows become SKIPPED."""


@dataclass(frozen=True)
class QuantParams:
    """Affine int8 quantization from the manifest: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


# Same table as deploy_compare.manifest: logical layout -> the artifact's layout.
_PERMUTATIONS = {
    ("NCHW", "NHWC"): (0, 2, 3, 1),
    ("NHWC", "NCHW"): (0, 3, 1, 2),
    ("NCL", "NLC"): (0, 2, 1),
    ("NLC", "NCL"): (0, 2, 1),
}


def layout_permutation(src: str, dst: str) -> Optional[Tuple[int, ...]]:
    if src == dst or "ANY" in (src, dst) or src == "NC" or dst == "NC":
        return None
    try:
        return _PERMUTATIONS[(src, dst)]
    except KeyError:
        raise RunnerError("no conversion from layout %s to %s" % (src, dst)) from None


def package_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # metadata missing (vendored install): say so rather than fail
        return "unknown"


def load_interpreter_class() -> Tuple[Any, str]:
    """(Interpreter class, "package version"): ai-edge-litert first, then tflite-runtime."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert " + package_version("ai-edge-litert")
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime " + package_version("tflite-runtime")
    except ImportError:
        raise RuntimeMissing(
            "TFLite: neither ai-edge-litert nor tflite-runtime is installed (python3 -m pip install ai-edge-litert)"
        ) from None


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _quant(spec: Dict[str, Any]) -> Optional[QuantParams]:
    q = spec.get("quantization")
    if q and spec.get("dtype") in ("int8", "uint8"):
        return QuantParams(float(q["scale"]), int(q["zero_point"]))
    return None


class TFLiteModel:
    """One .tflite model: float32 batches in the LOGICAL layout in, float32 outputs out.

    Does what deploy_compare.runtimes.base.Runtime does: checks shape and dtype, converts
    the layout, quantizes int8 inputs and dequantizes int8 outputs from the manifest.
    XNNPACK stays on (the interpreter's default delegate).
    """

    def __init__(
        self,
        path: str,
        entry: Dict[str, Any],
        logical_layout: str,
        threads: int,
        interpreter_class: Any,
        logical_inputs: Optional[List[Dict[str, Any]]] = None,
    ) -> None:
        self.path = path
        #: a model with several inputs (manifest model.inputs): named arrays in, in their own dtypes
        self.logical_inputs = list(logical_inputs or [])
        self.input_specs = list(entry["inputs"])
        self.logical_layout = logical_layout
        self.input_spec = entry["inputs"][0]
        self.output_spec = entry["outputs"][0]
        self._perm = layout_permutation(logical_layout, self.input_spec.get("layout", "ANY"))
        artifact_shape = list(self.input_spec["shape"])[1:]
        if self._perm is None:
            self._expected = tuple(artifact_shape)
        else:
            inverse = np.argsort(self._perm)
            full = [None] + artifact_shape
            self._expected = tuple(full[i] for i in inverse)[1:]
        self._in_dtype = self.input_spec["dtype"]
        self._quant_in = _quant(self.input_spec)
        self._quant_out = _quant(self.output_spec)
        try:
            self._interpreter = interpreter_class(model_path=path, num_threads=threads)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RunnerError("%s: not a loadable TFLite model (%s: %s)" % (path, type(exc).__name__, first)) from None
        names = [spec["name"] for spec in self.input_specs] if self.logical_inputs else None
        self._invoke = BatchInvoker(self._interpreter, names)

    def _shape_text(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in (None,) + tuple(self._expected)) + ")"

    def _prepare_named(self, batch: Dict[str, np.ndarray]) -> Tuple[np.ndarray, ...]:
        """Named inputs -> a tuple in the file's input order, each in its dtype (as runtimes/base.py)."""
        if not isinstance(batch, dict) or sorted(batch) != sorted(t["name"] for t in self.logical_inputs):
            raise RunnerError("tflite: expected the named inputs %s" % [t["name"] for t in self.logical_inputs])
        prepared = []
        for logical, spec in zip(self.logical_inputs, self.input_specs):
            x = batch[logical["name"]]
            if x.dtype != np.dtype(logical["dtype"]) or list(x.shape[1:]) != list(logical["shape"][1:]):
                raise RunnerError(
                    "tflite: input %s must be %s %s, got %s %s"
                    % (logical["name"], logical["dtype"], logical["shape"], x.dtype, tuple(x.shape))
                )
            q = _quant(spec)
            if q is not None and x.dtype.kind == "f":
                x = quantize(x, q, spec["dtype"])
            elif x.dtype != np.dtype(spec["dtype"]):
                x = x.astype(spec["dtype"])
            prepared.append(np.ascontiguousarray(x))
        return tuple(prepared)

    def prepare(self, batch: Any) -> Any:
        """float32 batch in the logical layout -> the model's layout and input dtype (int8 quantized)."""
        if self.logical_inputs:
            return self._prepare_named(batch)
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            got = (
                "dtype %s with shape %s" % (batch.dtype, tuple(batch.shape))
                if isinstance(batch, np.ndarray)
                else type(batch).__name__
            )
            raise RunnerError(
                "tflite: expected dtype float32 with shape %s in %s layout, got %s"
                % (self._shape_text(), self.logical_layout, got)
            )
        if batch.ndim != len(self._expected) + 1 or any(
            e is not None and g != e for g, e in zip(batch.shape[1:], self._expected)
        ):
            raise RunnerError(
                "tflite: expected input shape %s in %s layout, got %s"
                % (self._shape_text(), self.logical_layout, tuple(batch.shape))
            )
        x = batch if self._perm is None else np.ascontiguousarray(batch.transpose(self._perm))
        if self._quant_in is not None:
            return quantize(x, self._quant_in, self._in_dtype)
        if self._in_dtype != "float32":
            return x.astype(self._in_dtype)
        return x

    def run_prepared(self, x: Any) -> np.ndarray:
        """set_tensor + invoke + get_tensor on a prepare()d batch: what invoke-only latency times."""
        return self._invoke(x)

    def kernel_coverage(self) -> Optional[KernelCoverage]:
        return kernel_coverage(self._interpreter)

    def predict(self, batch: Any) -> np.ndarray:
        y = self._invoke(self.prepare(batch))
        if self._quant_out is not None:
            return dequantize(y, self._quant_out)
        return y.astype(np.float32, copy=False)

    def close(self) -> None:
        self._interpreter = None
        self._invoke = None  # type: ignore[assignment]  # released: never called after close()


def read_manifest(bundle_dir: str) -> Dict[str, Any]:
    path = os.path.join(bundle_dir, MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        raise RunnerError("%s: not found (run this script inside the bundle, or pass --bundle DIR)" % path) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunnerError("%s: not a deploy-compare manifest (%s)" % (path, exc)) from None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("artifacts"), dict)
        or "layout" not in manifest.get("model", {})
    ):
        raise RunnerError("%s: not a deploy-compare manifest (needs model.layout and artifacts)" % path)
    return manifest


def read_samples(bundle_dir: str) -> Tuple[Batch, Optional[np.ndarray]]:
    path = os.path.join(bundle_dir, SAMPLES_NAME)
    try:
        with np.load(path) as data:
            x = from_npz(data)  # named inputs keep their dtypes (int64 token ids)
            x = take(x, slice(None)) if is_named(x) else np.ascontiguousarray(x, dtype=np.float32)
            reference = data["reference"] if "reference" in data.files else None
    except FileNotFoundError:
        raise RunnerError("%s: not found" % path) from None
    except (OSError, ValueError, KeyError) as exc:
        raise RunnerError("%s: unreadable sample inputs (%s)" % (path, exc)) from None
    return x, reference


def _base_result(
    manifest: Dict[str, Any],
    name: str,
    threads: int,
    device: str,
    settings: MeasureSettings,
    status: str,
    reason: Optional[str] = None,
) -> BenchResult:
    entry = manifest["artifacts"].get(name, {})
    return BenchResult(
        artifact=name,
        format=entry.get("format", "tflite"),
        variant=entry.get("variant", "unknown"),
        runtime="tflite",
        profile="edge",
        threads=threads,
        device=device,
        status=status,
        reason=reason,
        file_size_bytes=entry.get("size_bytes"),
        model_name=manifest["model"].get("name"),
        model_content_hash=manifest["model"].get("content_hash"),
        artifact_sha256=entry.get("sha256"),
        settings=settings.to_dict(),
        machine=machine_description(),
    )


def run_child(
    bundle_dir: str, name: str, threads: int, pin: bool, settings: MeasureSettings, device: str
) -> BenchResult:
    """One (model, threads) measurement; mirrors deploy_compare.bench_local.worker.run_job."""
    machine = machine_description()  # before pinning: it describes the machine, not the pinned set
    pinned, pin_note = pin_to_cores(threads) if pin else (None, None)
    rss_start = peak_rss_mib()
    manifest = read_manifest(bundle_dir)
    result = _base_result(manifest, name, threads, device, settings, "FAILED")
    result.machine = machine
    result.pinned_cores = pinned
    if pin_note:
        result.notes.append(pin_note)
    try:
        entry = manifest["artifacts"][name]
        path = os.path.join(bundle_dir, entry["path"])
        if not os.path.isfile(path):
            raise RunnerError("%s: model file %r is missing from the bundle" % (path, name))
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise RunnerError(
                "%s: corrupt or changed (sha256 %s..., manifest says %s...)" % (path, actual[:12], entry["sha256"][:12])
            )
        x, reference = read_samples(bundle_dir)

        t0 = time.perf_counter_ns()
        interpreter_class, result.runtime_version = load_interpreter_class()
        result.import_ms = (time.perf_counter_ns() - t0) / 1e6
        rss_imported = peak_rss_mib()

        t0 = time.perf_counter_ns()
        model = TFLiteModel(
            path, entry, manifest["model"]["layout"], threads, interpreter_class, manifest["model"].get("inputs")
        )
        result.load_ms = (time.perf_counter_ns() - t0) / 1e6
        try:
            m = measure(model.predict, x, reference, settings)
            invoke = measure_invoke_only(model.run_prepared, model.prepare, x, settings)
            coverage = model.kernel_coverage()
        finally:
            model.close()
        rss_end = peak_rss_mib()
    except RuntimeMissing as exc:
        result.status, result.reason = "SKIPPED", failure_reason(exc, RunnerError)
        return result
    except Exception as exc:  # this row's reason; the other rows still run
        result.reason = failure_reason(exc, RunnerError)
        return result

    result.record_measurement(m, rss_start, rss_imported, rss_end)
    result.record_invoke_only(invoke, coverage)
    return result


def write_json_atomic(path: str, data: Any) -> None:
    """Write beside the target, then rename: a crash never leaves half a results file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    result = run_child(args.bundle, args.child, args.child_threads, not args.no_pin, settings, args.device)
    write_json_atomic(args.child_out, result.to_dict())
    return 0


def _self_command(emulator: Optional[str] = None) -> List[str]:
    """How to start this runner again, in a child process (behind the emulator, when under one:
    without binfmt_misc an ARM binary cannot be exec'd directly on an x86 host)."""
    prefix = shlex.split(emulator) if emulator else []
    if __package__:  # deploy_compare.edge.runner in the source tree: its relative imports need -m
        return prefix + [sys.executable, "-m", __spec__.name]
    return prefix + [sys.executable, os.path.abspath(__file__)]  # the bundle's standalone run_edge.py


def _run_one(
    args: argparse.Namespace, manifest: Dict[str, Any], name: str, threads: int, settings: MeasureSettings
) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="dc-edge-") as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = _self_command(args.emulator) + [
            "--device",
            args.device,
            "--bundle",
            args.bundle,
            "--child",
            name,
            "--child-threads",
            str(threads),
            "--child-out",
            out,
        ]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--no-pin"] if args.no_pin else []
        try:
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired:
            return _base_result(
                manifest, name, threads, args.device, settings, "FAILED", "timed out after %g s" % args.timeout
            )
        if proc.returncode != 0 or not os.path.exists(out):
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            return _base_result(
                manifest,
                name,
                threads,
                args.device,
                settings,
                "FAILED",
                "measurement process exited with status %d: %s"
                % (proc.returncode, lines[-1] if lines else "(no output)"),
            )
        with open(out, encoding="utf-8") as fh:
            result = BenchResult.from_dict(json.load(fh))
    if result.status == "OK" and XNNPACK_LOG_LINE in proc.stderr:
        result.notes.append("XNNPACK delegate created (LiteRT log)")
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    settings = MeasureSettings.quick() if args.quick else MeasureSettings()
    if args.device is None:
        args.device = default_device_label()
    if args.child is not None:
        return _child_main(args, settings)
    emulated = ("emulator: " + args.emulator) if args.emulator else detect_emulation()
    try:
        manifest = read_manifest(args.bundle)
    except RunnerError as exc:
        print("run_edge.py: error: %s" % exc, file=sys.stderr)
        return 2
    names = [n for n, e in manifest["artifacts"].items() if e.get("format") == "tflite"]
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
    write_json_atomic(
        out, results_document(results, args.device, ["run_edge.py"] + list(sys.argv[1:] if argv is None else argv))
    )
    print("wrote %s" % out)
    ok = [r for r in results if r.status == "OK"]
    failed = [r for r in results if r.status == "FAILED"]
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
