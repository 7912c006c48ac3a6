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

This file is deploy_compare/edge/runner.py copied verbatim into the bundle. The blocks
marked "copied from" are identical to the package's own modules (a test checks it),
so this runner times, counts and computes exactly as the local benchmark does.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

MANIFEST_NAME = "manifest.json"
SAMPLES_NAME = "sample_inputs.npz"  # x (logical layout, float32), reference (float32 logits), y
XNNPACK_LOG_LINE = "XNNPACK delegate"

# ---- copied from deploy_compare/bench_local/timing.py ----


@dataclass(frozen=True)
class Timing:
    samples_ns: np.ndarray  # int64, duration of each timed call, in call order
    wall_ns: int  # first call's start to last call's end, loop bookkeeping included
    reached_min_duration: bool  # False when max_iterations stopped the loop first


def time_calls(fn: Callable[[Any], Any], inputs: Sequence[Any], min_iterations: int, min_duration_s: float,
               max_iterations: int) -> Timing:
    """Call fn(inputs[i % len(inputs)]) until BOTH min_iterations and min_duration_s are reached.

    The record array is preallocated and the loop does nothing but read the clock, call
    and store, so the harness adds well under a microsecond per call
    (bench/harness_overhead.py measures it). Warm-up is the caller's job.
    """
    if not inputs:
        raise ValueError("time_calls: inputs must not be empty")
    if not 1 <= min_iterations <= max_iterations:
        raise ValueError(f"time_calls: need 1 <= min_iterations ({min_iterations}) <= "
                         f"max_iterations ({max_iterations})")
    samples = np.empty(max_iterations, dtype=np.int64)
    clock = time.perf_counter_ns
    n_inputs = len(inputs)
    i = 0
    start = clock()
    deadline = start + int(min_duration_s * 1e9)
    end = start
    while i < max_iterations:
        x = inputs[i % n_inputs]
        t0 = clock()
        fn(x)
        end = clock()
        samples[i] = end - t0
        i += 1
        if i >= min_iterations and end >= deadline:
            break
    return Timing(samples[:i].copy(), end - start, end >= deadline)

# ---- copied from deploy_compare/bench_local/stats.py ----


@dataclass(frozen=True)
class LatencyStats:
    iterations: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def latency_summary(samples_ns: np.ndarray) -> LatencyStats:
    """LatencyStats of per-call durations given in nanoseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        raise ValueError("latency_summary: no samples")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyStats(iterations=int(ms.size), mean_ms=float(ms.mean()), p50_ms=float(p50),
                        p90_ms=float(p90), p99_ms=float(p99), max_ms=float(ms.max()))


def throughput_per_s(items: int, wall_ns: int) -> float:
    """Items per second over a wall-clock span in nanoseconds."""
    if wall_ns <= 0:
        raise ValueError(f"throughput_per_s: wall_ns must be > 0, got {wall_ns}")
    return items * 1e9 / wall_ns


def top1_agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of rows whose arg-max equals the reference's arg-max."""
    outputs = np.asarray(outputs)
    reference = np.asarray(reference)
    if outputs.shape != reference.shape:
        raise ValueError(f"top1_agreement: outputs shape {outputs.shape} != reference shape {reference.shape}")
    return float((outputs.argmax(axis=1) == reference.argmax(axis=1)).mean())

# ---- copied from deploy_compare/bench_local/procedure.py ----


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how often to measure. Both a minimum count AND a minimum duration apply."""

    warmup_iterations: int = 20
    min_iterations: int = 200  # single-stream
    min_duration_s: float = 2.0  # single-stream
    max_iterations: int = 1_000_000  # record array size; stops a loop of very fast calls
    batch_sizes: Tuple[int, ...] = (1, 8, 32)
    throughput_min_iterations: int = 20  # per batch size (batch 1 reuses the single-stream run)
    throughput_min_duration_s: float = 1.0
    correctness_samples: int = 256  # held-out samples checked against the reference; 0 = none

    def __post_init__(self) -> None:
        for name in ("warmup_iterations", "correctness_samples"):
            if getattr(self, name) < 0:
                raise ValueError(f"MeasureSettings.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("min_iterations", "throughput_min_iterations", "max_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"MeasureSettings.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_duration_s", "throughput_min_duration_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"MeasureSettings.{name} must be >= 0 seconds, got {getattr(self, name)}")
        if self.max_iterations < max(self.min_iterations, self.throughput_min_iterations):
            raise ValueError(f"MeasureSettings.max_iterations ({self.max_iterations}) must be >= "
                             f"min_iterations and throughput_min_iterations")
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ValueError(f"MeasureSettings.batch_sizes must be positive integers, got {self.batch_sizes}")
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))

    @classmethod
    def quick(cls) -> "MeasureSettings":
        """Seconds instead of minutes: for CI, tests and a first look (figures are rough)."""
        return cls(warmup_iterations=3, min_iterations=20, min_duration_s=0.2,
                   throughput_min_iterations=3, throughput_min_duration_s=0.1, correctness_samples=64)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["batch_sizes"] = list(self.batch_sizes)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "MeasureSettings":
        d = dict(d)
        if "batch_sizes" in d:
            d["batch_sizes"] = tuple(d["batch_sizes"])
        return cls(**d)


@dataclass
class Measurement:
    first_inference_ms: float
    latency: LatencyStats
    single_stream_duration_s: float
    throughput_samples_per_s: Dict[int, float]
    top1_agreement: Optional[float]  # None when no reference outputs were given
    samples_checked: int
    notes: List[str] = field(default_factory=list)


def _batches(x: np.ndarray, size: int, count: int) -> List[np.ndarray]:
    """`count` contiguous batches of `size` samples, cycling through x when it is short."""
    idx = np.arange(size * count) % len(x)
    return [np.ascontiguousarray(x[idx[i * size:(i + 1) * size]]) for i in range(count)]


def measure(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, reference: Optional[np.ndarray],
            settings: MeasureSettings) -> Measurement:
    """Run the procedure on held-out inputs x (logical layout, float32) and their reference outputs."""
    if len(x) == 0:
        raise ValueError("measure: no input samples")
    notes: List[str] = []
    singles = _batches(x, 1, min(len(x), 256))
    clock = time.perf_counter_ns

    t0 = clock()
    predict(singles[0])
    first_inference_ms = (clock() - t0) / 1e6

    for i in range(settings.warmup_iterations):
        predict(singles[i % len(singles)])
    single = time_calls(predict, singles, settings.min_iterations, settings.min_duration_s,
                        settings.max_iterations)
    if not single.reached_min_duration:
        notes.append(f"single-stream stopped at max_iterations={settings.max_iterations} "
                     f"before min_duration_s={settings.min_duration_s}")
    latency = latency_summary(single.samples_ns)

    throughput: Dict[int, float] = {}
    for size in settings.batch_sizes:
        if size == 1:
            # Single-stream IS batch-1 back to back: reuse it rather than spend the time twice.
            throughput[1] = throughput_per_s(len(single.samples_ns), single.wall_ns)
            continue
        batches = _batches(x, size, 4)
        for i in range(max(1, settings.warmup_iterations // 4)):  # also re-plans a dynamic batch
            predict(batches[i % len(batches)])
        timing = time_calls(predict, batches, settings.throughput_min_iterations,
                            settings.throughput_min_duration_s, settings.max_iterations)
        throughput[size] = throughput_per_s(size * len(timing.samples_ns), timing.wall_ns)

    agreement: Optional[float] = None
    checked = 0
    if reference is not None and settings.correctness_samples > 0:
        n = min(settings.correctness_samples, len(x))
        outputs = np.concatenate([predict(np.ascontiguousarray(x[i:i + 32])) for i in range(0, n, 32)])
        agreement = top1_agreement(outputs, reference[:n])
        checked = n
    return Measurement(first_inference_ms=first_inference_ms, latency=latency,
                       single_stream_duration_s=single.wall_ns / 1e9, throughput_samples_per_s=throughput,
                       top1_agreement=agreement, samples_checked=checked, notes=notes)

# ---- copied from deploy_compare/bench_local/environment.py ----


def peak_rss_mib() -> Optional[float]:
    """This process's peak resident set size so far (MiB); None where the OS does not say.

    A high-water mark, so "growth" = peak at the end minus peak at a starting point; it
    needs one process per measurement, which is why every artifact runs in its own.
    Linux: VmHWM from /proc/self/status, which belongs to this address space. NOT
    getrusage's ru_maxrss: that one survives fork+exec, so a worker started by a parent
    holding torch and TensorFlow (the pipeline) would start at the parent's peak and show
    no growth at all.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def allowed_cores() -> Optional[List[int]]:
    """CPU numbers this process may run on, where the OS exposes affinity (Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))


def pin_to_cores(count: int) -> Tuple[Optional[List[int]], Optional[str]]:
    """Pin this process to `count` of its allowed cores: (cores, None) or (None, why not).

    Takes the LAST allowed cores because the first core of a Linux box usually serves
    more interrupts. Call it before the runtime starts its threads.
    """
    cores = allowed_cores()
    if cores is None or not hasattr(os, "sched_setaffinity"):
        return None, f"CPU pinning not supported on {platform.system()}"
    chosen = cores[-count:] if count <= len(cores) else cores
    try:
        os.sched_setaffinity(0, chosen)
    except OSError as exc:
        return None, f"CPU pinning refused by the OS ({exc})"
    return chosen, None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        # x86: "model name"; Raspberry Pi / ARM boards: "Model" or "Hardware".
        for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
            if fields.get(key):
                return fields[key]
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_total_mib() -> Optional[float]:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_description() -> Dict[str, Any]:
    """What the numbers were measured on (no host name: results get shared)."""
    cores = allowed_cores()
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "allowed_cpus": len(cores) if cores is not None else None,
        "memory_total_mib": _memory_total_mib(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }

# ---- copied from deploy_compare/bench_local/result.py ----


RESULT_SCHEMA_VERSION = 1
RESULTS_KIND = "deploy-compare.bench-results"
STATUSES = ("OK", "SKIPPED", "FAILED")
PROFILES = ("server", "edge")
#: a device label becomes a file name (runs/<run>/edge/<label>.json): no path characters
DEVICE_LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class BenchResult:
    artifact: str  # manifest name, e.g. "tflite_int8"
    format: str  # torchscript, onnx, savedmodel, tflite
    variant: str  # fp32, fp16, dynamic_int8, int8
    runtime: str  # torchscript, onnxruntime, tensorflow, tflite
    profile: str  # "server" (all the cores it is given) or "edge" (pinned, phone/Pi-class)
    threads: int
    device: str  # "local" for this machine, the --device label of an edge run
    status: str  # OK, SKIPPED (cannot run here; reason says why), FAILED (reason is the error)
    reason: Optional[str] = None
    runtime_version: Optional[str] = None  # "package version"
    pinned_cores: Optional[List[int]] = None  # None: not pinned
    file_size_bytes: Optional[int] = None
    import_ms: Optional[float] = None  # importing the runtime package
    load_ms: Optional[float] = None  # loading the model (after the import)
    first_inference_ms: Optional[float] = None
    iterations: Optional[int] = None  # single-stream timed calls (warm-up excluded)
    single_stream_duration_s: Optional[float] = None
    mean_ms: Optional[float] = None
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    max_ms: Optional[float] = None
    throughput_samples_per_s: Dict[int, float] = field(default_factory=dict)  # batch size -> samples/s
    rss_import_mib: Optional[float] = None  # peak RSS growth from importing the runtime package
    rss_growth_mib: Optional[float] = None  # peak RSS growth from model load through all inference
    top1_agreement: Optional[float] = None  # share in [0, 1] vs the reference (PyTorch) outputs
    samples_checked: int = 0
    model_name: Optional[str] = None
    model_content_hash: Optional[str] = None
    artifact_sha256: Optional[str] = None
    settings: Dict[str, Any] = field(default_factory=dict)  # MeasureSettings.to_dict()
    machine: Dict[str, Any] = field(default_factory=dict)  # environment.machine_description()
    notes: List[str] = field(default_factory=list)
    schema_version: int = RESULT_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"BenchResult.status must be one of {STATUSES}, got {self.status!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"BenchResult.profile must be one of {PROFILES}, got {self.profile!r}")

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        # JSON object keys are strings.
        d["throughput_samples_per_s"] = {str(k): v for k, v in self.throughput_samples_per_s.items()}
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "BenchResult":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"BenchResult: unknown fields {unknown}")
        d = dict(d)
        d["throughput_samples_per_s"] = {int(k): float(v) for k, v in d.get("throughput_samples_per_s", {}).items()}
        return cls(**d)


def results_document(results: List[BenchResult], device: str, command: List[str]) -> Dict[str, Any]:
    """The JSON document both the local benchmark and the edge runner write."""
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "kind": RESULTS_KIND,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": device,
        "command": list(command),
        "results": [r.to_dict() for r in results],
    }

# ---- copied from deploy_compare/runtimes/base.py (quantize, dequantize) ----


def quantize(x: np.ndarray, q: QuantParams, dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / q.scale + q.zero_point), info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, q: QuantParams) -> np.ndarray:
    return (x.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)

# ---- the runner's own part ---------------------------------------------------------------


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
        raise RuntimeMissing("TFLite: neither ai-edge-litert nor tflite-runtime is installed "
                             "(python3 -m pip install ai-edge-litert)") from None


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

    def __init__(self, path: str, entry: Dict[str, Any], logical_layout: str, threads: int,
                 interpreter_class: Any) -> None:
        self.path = path
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
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        self._batch: Optional[int] = None

    def _shape_text(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in (None,) + tuple(self._expected)) + ")"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            got = ("dtype %s with shape %s" % (batch.dtype, tuple(batch.shape)) if isinstance(batch, np.ndarray)
                   else type(batch).__name__)
            raise RunnerError("tflite: expected dtype float32 with shape %s in %s layout, got %s"
                              % (self._shape_text(), self.logical_layout, got))
        if batch.ndim != len(self._expected) + 1 or any(
                e is not None and g != e for g, e in zip(batch.shape[1:], self._expected)):
            raise RunnerError("tflite: expected input shape %s in %s layout, got %s"
                              % (self._shape_text(), self.logical_layout, tuple(batch.shape)))
        x = batch if self._perm is None else np.ascontiguousarray(batch.transpose(self._perm))
        if self._quant_in is not None:
            x = quantize(x, self._quant_in, self._in_dtype)
        elif self._in_dtype != "float32":
            x = x.astype(self._in_dtype)
        if self._batch != x.shape[0]:
            # The batch dimension is dynamic (-1); re-plan only when it changes.
            self._interpreter.resize_tensor_input(self._input_index, list(x.shape))
            self._interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self._interpreter.set_tensor(self._input_index, x)
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._output_index).copy()
        if self._quant_out is not None:
            return dequantize(y, self._quant_out)
        return y.astype(np.float32, copy=False)

    def close(self) -> None:
        self._interpreter = None


def read_manifest(bundle_dir: str) -> Dict[str, Any]:
    path = os.path.join(bundle_dir, MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        raise RunnerError("%s: not found (run this script inside the bundle, or pass --bundle DIR)" % path) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunnerError("%s: not a deploy-compare manifest (%s)" % (path, exc)) from None
    if (not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), dict)
            or "layout" not in manifest.get("model", {})):
        raise RunnerError("%s: not a deploy-compare manifest (needs model.layout and artifacts)" % path)
    return manifest


def read_samples(bundle_dir: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    path = os.path.join(bundle_dir, SAMPLES_NAME)
    try:
        with np.load(path) as data:
            x = np.ascontiguousarray(data["x"], dtype=np.float32)
            reference = data["reference"] if "reference" in data.files else None
    except FileNotFoundError:
        raise RunnerError("%s: not found" % path) from None
    except (OSError, ValueError, KeyError) as exc:
        raise RunnerError("%s: unreadable sample inputs (%s)" % (path, exc)) from None
    return x, reference


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, RunnerError):
        return first or type(exc).__name__
    return "%s: %s" % (type(exc).__name__, first) if first else type(exc).__name__


def _base_result(manifest: Dict[str, Any], name: str, threads: int, device: str, settings: MeasureSettings,
                 status: str, reason: Optional[str] = None) -> BenchResult:
    entry = manifest["artifacts"].get(name, {})
    return BenchResult(
        artifact=name, format=entry.get("format", "tflite"), variant=entry.get("variant", "unknown"),
        runtime="tflite", profile="edge", threads=threads, device=device, status=status, reason=reason,
        file_size_bytes=entry.get("size_bytes"), model_name=manifest["model"].get("name"),
        model_content_hash=manifest["model"].get("content_hash"), artifact_sha256=entry.get("sha256"),
        settings=settings.to_dict(), machine=machine_description(),
    )


def run_child(bundle_dir: str, name: str, threads: int, pin: bool, settings: MeasureSettings,
              device: str) -> BenchResult:
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
            raise RunnerError("%s: corrupt or changed (sha256 %s..., manifest says %s...)"
                              % (path, actual[:12], entry["sha256"][:12]))
        x, reference = read_samples(bundle_dir)

        t0 = time.perf_counter_ns()
        interpreter_class, result.runtime_version = load_interpreter_class()
        result.import_ms = (time.perf_counter_ns() - t0) / 1e6
        rss_imported = peak_rss_mib()

        t0 = time.perf_counter_ns()
        model = TFLiteModel(path, entry, manifest["model"]["layout"], threads, interpreter_class)
        result.load_ms = (time.perf_counter_ns() - t0) / 1e6
        try:
            m = measure(model.predict, x, reference, settings)
        finally:
            model.close()
        rss_end = peak_rss_mib()
    except RuntimeMissing as exc:
        result.status, result.reason = "SKIPPED", _one_line(exc)
        return result
    except Exception as exc:  # this row's reason; the other rows still run
        result.reason = _one_line(exc)
        return result

    result.status = "OK"
    result.first_inference_ms = m.first_inference_ms
    result.iterations = m.latency.iterations
    result.single_stream_duration_s = m.single_stream_duration_s
    result.mean_ms, result.p50_ms, result.p90_ms = m.latency.mean_ms, m.latency.p50_ms, m.latency.p90_ms
    result.p99_ms, result.max_ms = m.latency.p99_ms, m.latency.max_ms
    result.throughput_samples_per_s = m.throughput_samples_per_s
    result.top1_agreement, result.samples_checked = m.top1_agreement, m.samples_checked
    if rss_start is not None:
        result.rss_import_mib = round(rss_imported - rss_start, 2)
        result.rss_growth_mib = round(rss_end - rss_imported, 2)
    result.notes.extend(m.notes)
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
            "device label %r: use 1-64 letters, digits, '.', '_' or '-' (it becomes a file name)" % text)
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_edge.py", description="Benchmark this bundle's TFLite models on this device "
                                        "(same figures and JSON schema as `deploy-compare bench-local`).")
    parser.add_argument("--device", type=_device_label, required=True,
                        help="a label for this device, e.g. pi4 or pixel7 (letters, digits, . _ -)")
    parser.add_argument("--threads", type=_int_list, default=[1],
                        help="comma-separated thread counts, each pinned to that many cores (default: 1)")
    parser.add_argument("--quick", action="store_true", help="short runs (rough figures)")
    parser.add_argument("--out", default=None, help="results JSON (default: edge_result_<device>.json)")
    parser.add_argument("--only", default=None, help="comma-separated model names (default: all in the bundle)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to cores")
    parser.add_argument("--bundle", default=os.path.dirname(os.path.abspath(__file__)),
                        help="bundle directory (default: this script's directory)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per measurement")
    # internal: one measurement in a child process
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    return parser


def _child_main(args: argparse.Namespace, settings: MeasureSettings) -> int:
    result = run_child(args.bundle, args.child, args.child_threads, not args.no_pin, settings, args.device)
    write_json_atomic(args.child_out, result.to_dict())
    return 0


def _run_one(args: argparse.Namespace, manifest: Dict[str, Any], name: str, threads: int,
             settings: MeasureSettings) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="dc-edge-") as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--device", args.device, "--bundle", args.bundle,
               "--child", name, "--child-threads", str(threads), "--child-out", out]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--no-pin"] if args.no_pin else []
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return _base_result(manifest, name, threads, args.device, settings, "FAILED",
                                "timed out after %g s" % args.timeout)
        if proc.returncode != 0 or not os.path.exists(out):
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            return _base_result(manifest, name, threads, args.device, settings, "FAILED",
                                "measurement process exited with status %d: %s"
                                % (proc.returncode, lines[-1] if lines else "(no output)"))
        with open(out, encoding="utf-8") as fh:
            result = BenchResult.from_dict(json.load(fh))
    if result.status == "OK" and XNNPACK_LOG_LINE in proc.stderr:
        result.notes.append("XNNPACK delegate created (LiteRT log)")
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    settings = MeasureSettings.quick() if args.quick else MeasureSettings()
    if args.child is not None:
        return _child_main(args, settings)
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
            print("run_edge.py: error: unknown model(s) %s; the bundle has: %s"
                  % (", ".join(unknown), ", ".join(names)), file=sys.stderr)
            return 2
        names = wanted
    out = args.out or "edge_result_%s.json" % args.device
    results = []
    total = len(names) * len(args.threads)
    for name in names:
        for threads in args.threads:
            print("[%d/%d] %s, %d thread(s): measuring..." % (len(results) + 1, total, name, threads), flush=True)
            result = _run_one(args, manifest, name, threads, settings)
            detail = ("p50 %.3f ms, p99 %.3f ms, batch-32 %.0f samples/s, top-1 %.1f%%"
                      % (result.p50_ms, result.p99_ms, result.throughput_samples_per_s.get(32, float("nan")),
                         100 * (result.top1_agreement or 0)) if result.status == "OK" else result.reason)
            print("        %s: %s" % (result.status, detail), flush=True)
            results.append(result)
    write_json_atomic(out, results_document(results, args.device, ["run_edge.py"] + list(sys.argv[1:]
                                                                                      if argv is None else argv)))
    print("wrote %s" % out)
    ok = [r for r in results if r.status == "OK"]
    failed = [r for r in results if r.status == "FAILED"]
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
