"""The result of one (artifact, profile, threads) measurement, and the document holding a list.

Shared by the local benchmark and the standalone edge runner (edge-bundle assembles this
pure module into run_edge.py, see edge/assemble.py), so both write the same JSON;
its JSON Schema is generated from the dataclass (record_schema.py; schema.py validates
against it): a field is written once, here. Units are in the field names. Stdlib + the other pure modules only, Python 3.9 syntax.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

from ..statistics import LatencyStats
from ..tflite_invoke import KernelCoverage
from .procedure import Measurement

RESULT_SCHEMA_VERSION = 1
RESULTS_KIND = "deploy-compare.bench-results"
STATUSES = ("OK", "SKIPPED", "FAILED")
PROFILES = ("server", "edge")
#: a device label becomes a file name (runs/<run>/edge/<label>.json): no path characters
DEVICE_LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


#: JSON Schema keywords for the generated schema (deploy_compare/record_schema.py) of these rows
_MS = {"schema": {"minimum": 0}}  # a duration in milliseconds (None where not measured)
_COUNT = {"schema": {"minimum": 0}}
_CI = {"schema": {"minItems": 2, "maxItems": 2}}
_NAME = {"schema": {"minLength": 1}}
_SHARE = {"schema": {"minimum": 0, "maximum": 1}}
_DEVICE = {"schema": {"pattern": DEVICE_LABEL_PATTERN.pattern}}
#: fields every OK row has: the figures the report shows
OK_ROW_FIELDS = (
    "load_ms",
    "first_inference_ms",
    "iterations",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "throughput_samples_per_s",
)


@dataclass
class BenchResult:
    # Fields without a default are required in every file; a field added later gets a default,
    # so result files written by older run_edge.py bundles still validate and ingest.
    artifact: str = field(metadata=_NAME)  # manifest name, e.g. "tflite_int8"
    format: str = field(metadata=_NAME)  # torchscript, onnx, savedmodel, tflite
    variant: str  # fp32, fp16, dynamic_int8, int8
    runtime: str = field(metadata=_NAME)  # torchscript, onnxruntime, tensorflow, tflite
    # "server" (all the cores it is given) or "edge" (pinned, phone/Pi-class)
    profile: str = field(metadata={"schema": {"enum": list(PROFILES)}})
    threads: int = field(metadata={"schema": {"minimum": 1}})
    device: str = field(metadata=_DEVICE)  # "local" for this machine, the --device label of an edge run
    # OK, SKIPPED (cannot run here; reason says why), FAILED (reason is the error)
    status: str = field(metadata={"schema": {"enum": list(STATUSES)}})
    reason: Optional[str] = None
    runtime_version: Optional[str] = None  # "package version"
    pinned_cores: Optional[List[int]] = field(
        default=None, metadata={"schema": {"items": {"type": "integer", "minimum": 0}}}
    )
    file_size_bytes: Optional[int] = field(default=None, metadata=_COUNT)
    import_ms: Optional[float] = field(default=None, metadata=_MS)  # importing the runtime package
    load_ms: Optional[float] = field(default=None, metadata=_MS)  # loading the model (after the import)
    first_inference_ms: Optional[float] = field(default=None, metadata=_MS)
    # single-stream timed calls (warm-up excluded)
    iterations: Optional[int] = field(default=None, metadata={"schema": {"minimum": 1}})
    single_stream_duration_s: Optional[float] = field(default=None, metadata=_MS)
    mean_ms: Optional[float] = field(default=None, metadata=_MS)
    p50_ms: Optional[float] = field(default=None, metadata=_MS)
    p90_ms: Optional[float] = field(default=None, metadata=_MS)
    p99_ms: Optional[float] = field(default=None, metadata=_MS)
    max_ms: Optional[float] = field(default=None, metadata=_MS)
    # the 95% intervals of p50/p90/p99 from the same samples: [low, high], an end too few
    # samples can bound is null (statistics.latency_summary)
    p50_ci_ms: Optional[List[Optional[float]]] = field(default=None, metadata=_CI)
    p90_ci_ms: Optional[List[Optional[float]]] = field(default=None, metadata=_CI)
    p99_ci_ms: Optional[List[Optional[float]]] = field(default=None, metadata=_CI)
    # batch size -> samples/s
    throughput_samples_per_s: Dict[int, float] = field(
        default_factory=dict,
        metadata={
            "schema": {
                "propertyNames": {"pattern": "^[1-9][0-9]*$"},
                "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
            }
        },
    )
    # Invoke-only (TFLite rows): set_tensor + invoke + get_tensor on inputs already in the
    # artifact's layout and dtype, as benchmark_model times; p50_ms above is end-to-end
    # (layout conversion and int8 quantize/dequantize included).
    invoke_p50_ms: Optional[float] = field(default=None, metadata=_MS)
    invoke_p99_ms: Optional[float] = field(default=None, metadata=_MS)
    # how the single-stream run stopped: "precise" (p50 and p99 intervals narrow enough),
    # "duration" (the minimum, no precision asked), "max duration", "max iterations"
    stop_reason: Optional[str] = None
    invoke_p50_ci_ms: Optional[List[Optional[float]]] = field(default=None, metadata=_CI)
    invoke_p99_ci_ms: Optional[List[Optional[float]]] = field(default=None, metadata=_CI)
    # ops the XNNPACK delegate took (the interpreter's node list)
    xnnpack_ops: Optional[int] = field(default=None, metadata=_COUNT)
    total_ops: Optional[int] = field(default=None, metadata=_COUNT)  # ops in the model
    fallback_ops: Optional[List[str]] = None  # ops left to the built-in kernels; non-empty = a fallback
    rss_import_mib: Optional[float] = None  # peak RSS growth from importing the runtime package
    rss_growth_mib: Optional[float] = None  # peak RSS growth from model load through all inference
    # The process's peak resident memory (VmHWM), as benchmark_model's report_peak_memory_footprint:
    # after the model is loaded and its tensors allocated (init), and over the whole row (overall).
    # Absolute, so Python, numpy, the runtime and the eval batch are in it: what a device must hold.
    peak_rss_init_mib: Optional[float] = field(default=None, metadata=_COUNT)
    peak_rss_mib: Optional[float] = field(default=None, metadata=_COUNT)
    # share in [0, 1] vs the reference (PyTorch) outputs
    top1_agreement: Optional[float] = field(default=None, metadata=_SHARE)
    # what the runtime applied at load (graph optimization level, optimize_for_inference, threads):
    # the fair fight says which settings it compared
    runtime_settings: Dict[str, str] = field(default_factory=dict)
    samples_checked: int = field(default=0, metadata=_COUNT)
    model_name: Optional[str] = None
    model_content_hash: Optional[str] = None
    artifact_sha256: Optional[str] = None
    settings: Dict[str, Any] = field(default_factory=dict)  # MeasureSettings.to_dict()
    machine: Dict[str, Any] = field(default_factory=dict)  # machine.machine_description()
    notes: List[str] = field(default_factory=list)
    # `run --repeat N` measures every row N times (interleaved with the served stages); each
    # repetition's row is kept, numbered 1..N (bench-local and edge files: 1)
    repetition: int = field(default=1, metadata={"schema": {"minimum": 1}})
    schema_version: int = field(
        default=RESULT_SCHEMA_VERSION, metadata={"required": True, "schema": {"const": RESULT_SCHEMA_VERSION}}
    )

    #: cross-field rules of the generated schema: an OK row has its figures, a SKIPPED or
    #: FAILED row says why
    SCHEMA_RULES = (
        {
            "if": {"properties": {"status": {"const": "OK"}}},
            "then": {
                "required": list(OK_ROW_FIELDS),
                "properties": {
                    **{name: {"type": "number"} for name in OK_ROW_FIELDS},
                    "iterations": {"type": "integer"},
                    "throughput_samples_per_s": {"type": "object", "minProperties": 1},
                },
            },
        },
        {
            "if": {"properties": {"status": {"enum": ["SKIPPED", "FAILED"]}}},
            "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}},
        },
    )

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

    def record_measurement(
        self,
        m: Measurement,
        rss_start_mib: Optional[float],
        rss_imported_mib: Optional[float],
        rss_end_mib: Optional[float],
        rss_loaded_mib: Optional[float] = None,
    ) -> None:
        """Mark this row OK with the figures of `m` and the peak-RSS readings taken around it.

        The local worker and the edge runner both end a measurement here, so their rows
        carry the same fields computed the same way.
        """
        self.status = "OK"
        self.first_inference_ms = m.first_inference_ms
        self.iterations = m.latency.count
        self.stop_reason = m.stop_reason
        self.single_stream_duration_s = m.single_stream_duration_s
        self.mean_ms, self.p50_ms, self.p90_ms = m.latency.mean_ms, m.latency.p50_ms, m.latency.p90_ms
        self.p99_ms, self.max_ms = m.latency.p99_ms, m.latency.max_ms
        self.p50_ci_ms, self.p90_ci_ms, self.p99_ci_ms = m.latency.p50_ci_ms, m.latency.p90_ci_ms, m.latency.p99_ci_ms
        self.throughput_samples_per_s = m.throughput_samples_per_s
        self.top1_agreement, self.samples_checked = m.top1_agreement, m.samples_checked
        # The OS reports peak RSS for all three readings or for none.
        if rss_start_mib is not None and rss_imported_mib is not None and rss_end_mib is not None:
            self.rss_import_mib = round(rss_imported_mib - rss_start_mib, 2)
            self.rss_growth_mib = round(rss_end_mib - rss_imported_mib, 2)
            self.peak_rss_mib = round(rss_end_mib, 2)
        if rss_loaded_mib is not None:
            self.peak_rss_init_mib = round(rss_loaded_mib, 2)
        self.notes.extend(m.notes)

    def record_invoke_only(self, latency: LatencyStats, coverage: Optional[KernelCoverage]) -> None:
        """Add the invoke-only figures and the XNNPACK coverage (local worker and edge runner alike)."""
        self.invoke_p50_ms, self.invoke_p99_ms = latency.p50_ms, latency.p99_ms
        self.invoke_p50_ci_ms, self.invoke_p99_ci_ms = latency.p50_ci_ms, latency.p99_ci_ms
        if coverage is not None:
            self.xnnpack_ops, self.total_ops = coverage.delegated_ops, coverage.total_ops
            self.fallback_ops = list(coverage.fallback_ops)
            if coverage.fallback_ops:
                self.notes.append(
                    "XNNPACK took %d of %d ops; on TFLite's built-in kernels: %s"
                    % (coverage.delegated_ops, coverage.total_ops, ", ".join(coverage.fallback_ops))
                )

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "BenchResult":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"BenchResult: unknown fields {unknown}")
        d = dict(d)
        d["throughput_samples_per_s"] = {int(k): float(v) for k, v in d.get("throughput_samples_per_s", {}).items()}
        return cls(**d)


def failure_reason(exc: BaseException, ours: type) -> str:
    """One line for BenchResult.reason. An error of type `ours` was raised on purpose and its
    message says it all; any other keeps its class name ("ValueError: ...") as a clue."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, ours):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


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
