"""A realistic run directory for the report tests, built from the real result dataclasses.

Figures are made up but shaped like a 2-core run of the digits CNN: in-process ONNX Runtime
is fastest per request, TorchServe is the only served stack that ran (TF Serving SKIPPED),
tflite_int8 is the smallest and loses the most accuracy. Tests derive their expectations
from these objects instead of repeating numbers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from deploy_compare.bench_local.result import BenchResult, results_document
from deploy_compare.clients.results import LoadResult, SloResult, SloTrial
from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult, StageRecord
from deploy_compare.manifest import ArtifactEntry, ModelInfo, Parity, TensorSpec

REF_ACC = 0.975
EVAL_SAMPLES = 360
MACHINE = {
    "system": "Linux",
    "release": "6.1.0",
    "machine": "x86_64",
    "cpu_model": "Test CPU @ 2.0GHz",
    "logical_cpus": 2,
    "allowed_cpus": 2,
    "memory_total_mib": 7900.0,
    "python": "3.11.2",
    "numpy": "2.1.0",
}
PI_MACHINE = {
    **MACHINE,
    "machine": "aarch64",
    "cpu_model": "Raspberry Pi 4 Model B Rev 1.4",
    "logical_cpus": 4,
    "allowed_cpus": 4,
    "memory_total_mib": 3792.0,
}

# name -> (format, variant, size bytes, accuracy, runtime)
ARTIFACTS = {
    "torchscript": ("torchscript", "fp32", 61_000, REF_ACC, "torchscript"),
    "onnx": ("onnx", "fp32", 55_000, REF_ACC, "onnxruntime"),
    "savedmodel": ("savedmodel", "fp32", 240_000, REF_ACC, "tensorflow"),
    "tflite_fp32": ("tflite", "fp32", 52_000, REF_ACC, "tflite"),
    "tflite_fp16": ("tflite", "fp16", 27_500, REF_ACC, "tflite"),
    "tflite_dynamic_int8": ("tflite", "dynamic_int8", 16_200, 0.9722, "tflite"),
    "tflite_int8": ("tflite", "int8", 15_100, 0.9667, "tflite"),
}
# in-process single-request p50 (ms) at 1 thread, server profile
LOCAL_P50 = {
    "torchscript": 0.090,
    "onnx": 0.041,
    "savedmodel": 0.62,
    "tflite_fp32": 0.048,
    "tflite_fp16": 0.050,
    "tflite_dynamic_int8": 0.055,
    "tflite_int8": 0.044,
}


def artifact_entry(name: str) -> ArtifactEntry:
    fmt, variant, size, acc, _ = ARTIFACTS[name]
    layout = "NCHW" if fmt in ("torchscript", "onnx") else "NHWC"
    shape = [None, 1, 8, 8] if layout == "NCHW" else [None, 8, 8, 1]
    dtype = "int8" if variant == "int8" else "float32"
    agreement = 1.0 if acc == REF_ACC else 1 - (REF_ACC - acc) * 1.5
    return ArtifactEntry(
        name=name,
        format=fmt,
        variant=variant,
        path=f"{name}.bin",
        size_bytes=size,
        sha256="ab" * 32,
        inputs=[TensorSpec("input", shape, dtype, layout)],
        outputs=[TensorSpec("logits", [None, 10], "float32", "NC")],
        export_seconds=1.5,
        tools={"torch": "2.13.0"},
        parity=Parity(
            samples=EVAL_SAMPLES,
            max_abs_diff=1e-6 if variant == "fp32" else 0.08,
            top1_agreement=agreement,
            accuracy=acc,
            reference_accuracy=REF_ACC,
            passed=True,
        ),
    )


def bench(
    name: str,
    profile: str,
    threads: int,
    status: str = "OK",
    reason: str | None = None,
    device: str = "local",
    scale: float = 1.0,
) -> BenchResult:
    fmt, variant, size, _, runtime = ARTIFACTS[name]
    if status != "OK":
        return BenchResult(
            name,
            fmt,
            variant,
            runtime,
            profile,
            threads,
            device,
            status,
            reason=reason,
            file_size_bytes=size,
            machine=MACHINE,
        )
    p50 = LOCAL_P50[name] * scale * (1.0 if threads == 1 else 1.1)
    return BenchResult(
        name,
        fmt,
        variant,
        runtime,
        profile,
        threads,
        device,
        "OK",
        runtime_version=f"{runtime} 1.0",
        pinned_cores=[1] if profile == "edge" else None,
        file_size_bytes=size,
        import_ms=300.0,
        load_ms=12.0,
        first_inference_ms=p50 * 20,
        iterations=300,
        single_stream_duration_s=3.0,
        mean_ms=p50 * 1.1,
        p50_ms=p50,
        p90_ms=p50 * 1.3,
        p99_ms=p50 * 2.2,
        max_ms=p50 * 9,
        throughput_samples_per_s={1: 1000 / p50 * 0.9, 8: 8000 / (p50 * 3), 32: 32000 / (p50 * 9)},
        rss_import_mib=40.0,
        rss_growth_mib=1.0 + size / 40_000,
        peak_rss_init_mib=80.0 + size / 50_000,
        peak_rss_mib=81.0 + size / 40_000,
        top1_agreement=1.0,
        samples_checked=64,
        model_name="digits_cnn",
        machine=PI_MACHINE if device != "local" else MACHINE,
    )


def load_result(
    p50: float, *, concurrency: int | None = None, rate: float | None = None, bottleneck: bool = False
) -> LoadResult:
    open_loop = rate is not None
    throughput = rate * 0.99 if open_loop else concurrency * 1000 / (p50 * 1.2)
    return LoadResult(
        mode="open" if open_loop else "closed",
        protocol="torchserve",
        url="http://127.0.0.1:8080",
        model="digits_cnn",
        concurrency=concurrency,
        target_rate_rps=rate,
        arrival="poisson" if open_loop else None,
        max_in_flight=64 if open_loop else None,
        seed=0 if open_loop else None,
        warmup_s=2.0,
        window_s=15.0,
        requests=int(throughput * 15),
        completed=int(throughput * 15),
        throughput_rps=throughput,
        p50_ms=p50,
        p90_ms=p50 * 1.4,
        p95_ms=p50 * 1.7,
        p99_ms=p50 * 2.5,
        p999_ms=p50 * 4,
        max_ms=p50 * 6,
        min_ms=p50 * 0.6,
        mean_ms=p50 * 1.15,
        p99_incl_failures_ms=p50 * 2.5,
        errors={"timeout": 0, "connect": 0, "http_status": 0, "unparseable": 0, "transport": 0},
        dropped=0,
        error_examples={},
        correctness_checked=100,
        correctness_agreed=100,
        top1_agreement=1.0,
        client_cpu_share=0.35,
        late_share=0.0 if open_loop else None,
        late_threshold_ms=2.0,
        max_send_lag_ms=0.4 if open_loop else None,
        client_bottleneck=bottleneck,
        bottleneck_reasons=["client loop thread busy 91% of the window"] if bottleneck else [],
        min_requests_met=True,
        body_bytes=420,
    )


def torchserve_result() -> ServedResult:
    sweep = [load_result(2.1 * (1 + c / 6), concurrency=c) for c in (1, 4, 16)]
    trials = []
    for rate, p50 in ((100.0, 2.5), (200.0, 3.5), (400.0, 9.0), (800.0, 40.0), (600.0, 25.0)):
        result = load_result(p50, rate=rate)
        if rate == 800.0:  # overloaded: errors and drops make p99 unbounded
            result = dataclasses.replace(
                result, p99_incl_failures_ms=None, dropped=120, errors={**result.errors, "timeout": 31}
            )
        passed = result.p99_incl_failures_ms is not None and result.p99_incl_failures_ms <= 50.0
        reason = (
            ""
            if passed
            else (
                "151 of 12000 requests failed or were dropped (p99 unbounded)"
                if result.p99_incl_failures_ms is None
                else f"p99 {result.p99_incl_failures_ms:.2f} ms > 50 ms"
            )
        )
        trials.append(SloTrial(rate, passed, reason, result))
    slo = SloResult(
        p99_bound_ms=50.0,
        max_rate_rps=400.0,
        lowest_failing_rate_rps=600.0,
        limited_by_client=False,
        trials=trials,
        note="",
    )
    return ServedResult(
        target="torchserve",
        status="OK",
        mode="native",
        artifact="torchscript",
        startup_s=6.2,
        server_cores=[0],
        client_cores=[1],
        server_config={"workers": 1},
        sweep=[r.to_dict() for r in sweep],
        slo=slo.to_dict(),
        log="logs/torchserve.log",
    )


TFSERVING_SKIP = "no Docker engine answers (docker.sock missing) and tensorflow_model_server is not on PATH"
SAVEDMODEL_EDGE_ERROR = "measurement process exited with code -9 (killed: out of memory?)"


def build_results(**overrides) -> RunResults:
    local = []
    for name in ARTIFACTS:
        for threads in (1, 2):
            local.append(bench(name, "server", threads))
        if name == "savedmodel":
            local.append(bench(name, "edge", 1, status="FAILED", reason=SAVEDMODEL_EDGE_ERROR))
        else:
            local.append(bench(name, "edge", 1, scale=1.4))
    stages = [
        StageRecord("export", "OK", 95.0),
        StageRecord("local", "OK", 210.0),
        StageRecord("torchserve", "OK", 160.0),
        StageRecord("tfserving", "SKIPPED", 0.1, TFSERVING_SKIP),
    ]
    run = RunInfo(
        id="20250101-120000",
        profile="full",
        started_utc="2025-01-01T12:00:00Z",
        command="deploy-compare run",
        finished_utc="2025-01-01T12:08:00Z",
        wall_s=480.0,
        complete=True,
        cores={"server_cores": [0], "client_cores": [1], "shared": False},
        stages=stages,
    )
    model = ModelInfo(
        name="digits_cnn",
        source="builtin:digits_cnn",
        input_shape=[1, 8, 8],
        layout="NCHW",
        num_classes=10,
        content_hash="cafe",
        eval_samples=EVAL_SAMPLES,
        reference_accuracy=REF_ACC,
    )
    results = RunResults(
        run=run,
        settings={"run": {"targets": ["torchserve", "tfserving"]}, "slo": {"p99_ms": 50.0}},
        model=dataclasses.asdict(model),
        artifacts={name: dataclasses.asdict(artifact_entry(name)) for name in ARTIFACTS},
        export_failures={},
        local=[r.to_dict() for r in local],
        served=[torchserve_result(), ServedResult(target="tfserving", status="SKIPPED", reason=TFSERVING_SKIP)],
    )
    for key, value in overrides.items():
        setattr(results, key, value)
    return results


ENVIRONMENT = {
    "collected_utc": "2025-01-01T12:00:00+00:00",
    "command": "deploy-compare run",
    "python": "3.11.2",
    "platform": "Linux-6.1.0-x86_64",
    "cpu_model": "Test CPU @ 2.0GHz",
    "logical_cores": 2,
    "usable_cores": [0, 1],
    "memory_total_mib": 7900.0,
    "thread_settings": {},
    "packages": {"torch": "2.13.0", "onnxruntime": "1.22.0", "torchserve": "0.12.0"},
    "java": "openjdk 17.0.14",
    "git_commit": "0123456789abcdef",
}


def write_run(run_dir: Path, results: RunResults, edge: bool = True) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    results.write(run_dir)
    (run_dir / "environment.json").write_text(json.dumps(ENVIRONMENT))
    if edge:
        rows = [bench(n, "edge", 1, device="rpi4", scale=8.0) for n in ARTIFACTS if n.startswith("tflite")]
        (run_dir / "edge").mkdir(exist_ok=True)
        (run_dir / "edge" / "rpi4.json").write_text(json.dumps(results_document(rows, "rpi4", ["run_edge.py"])))
    return run_dir


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The reference run (build_results()) rendered once per test module, for tests that only
    read its files (rendering draws four plots: the unit tier's biggest cost). Read-only."""
    from deploy_compare.report import render_all

    run_dir = write_run(tmp_path_factory.mktemp("reference") / "run", build_results())
    render_all(run_dir)
    return run_dir


@pytest.fixture
def make_results():
    """build_results(**overrides) -> RunResults: the reference run, fields replaced by overrides."""
    return build_results


@pytest.fixture
def make_run(tmp_path):
    """make_run(results=None, name="run", edge=True) -> a run directory holding results.json & co."""

    def make(results: RunResults | None = None, name: str = "run", edge: bool = True) -> Path:
        return write_run(tmp_path / name, results or build_results(), edge)

    return make


@pytest.fixture
def tfserving_skip_reason():
    return TFSERVING_SKIP


@pytest.fixture
def savedmodel_edge_error():
    return SAVEDMODEL_EDGE_ERROR


@pytest.fixture
def make_load_result():
    """load_result(p50, concurrency=.. | rate=..) -> a LoadResult shaped like the reference run's."""
    return load_result


def _with_server_view(point: dict, queue_share: float, compute_ms: float) -> dict:
    """A sweep point with the server's own view (servers/monitor.py ServerUsage) and its split."""
    mean = point["mean_ms"]
    split = {"queue_ms": mean * queue_share, "compute_ms": compute_ms, "source": "the stack's metrics"}
    return {**point, "server": {"cpu_ms_per_request": compute_ms * 1.3, "cores_busy": 0.6, "split": split}}


def stack_result(
    target: str, artifact: str, scale: float, slo: tuple[float, float | None], note: str = ""
) -> ServedResult:
    """Another served stack shaped like torchserve_result(): latencies times `scale`, the SLO
    bracket given, a JSON and a binary encoding, the server's view with a queue/compute split."""
    base = torchserve_result()
    sweep = [
        _with_server_view({**p, "p50_ms": p["p50_ms"] * scale, "mean_ms": p["mean_ms"] * scale}, 0.2, 0.03)
        for p in base.sweep
    ]
    binary = [{**p, "p50_ms": p["p50_ms"] * 0.8, "throughput_rps": p["throughput_rps"] * 1.3} for p in sweep]
    passing, failing = slo
    return dataclasses.replace(
        base,
        target=target,
        artifact=artifact,
        sweep=sweep,
        encoding="json",
        encodings=[
            {"encoding": "binary", "status": "OK", "reason": None, "sweep": binary},
            {"encoding": "grpc", "status": "SKIPPED", "reason": f"{target} speaks no grpc here", "sweep": []},
        ],
        slo={**base.slo, "max_rate_rps": passing, "lowest_failing_rate_rps": failing, "note": note},
        batches=[
            {
                "batch_size": 8,
                "repetition": 1,
                "status": "OK",
                "reason": None,
                "sweep": [{**sweep[0], "batch_size": 8, "throughput_samples_per_s": sweep[0]["throughput_rps"] * 6}],
                "slo": {**base.slo, "max_rate_rps": passing / 5, "lowest_failing_rate_rps": None, "note": note},
            }
        ],
    )


def several_stacks_results() -> RunResults:
    """The reference run with four served stacks: TorchServe, Triton and the FastAPI baseline
    measured (Triton fastest, the FastAPI search ended on its trial budget), TF Serving SKIPPED."""
    budget = (
        "the trial budget (max_trials=5) ran out before any rate failed: at least 700/s, bracket [700, none failed)"
    )
    results = build_results()
    results.served = [
        results.served[0],
        stack_result("triton", "onnx", 0.5, (900.0, 950.0)),
        stack_result("fastapi_onnx", "onnx", 0.8, (700.0, None), budget),
        results.served[1],
    ]
    results.settings["run"]["targets"] = ["torchserve", "triton", "fastapi_onnx", "tfserving"]
    return results


@pytest.fixture
def make_several_stacks():
    return several_stacks_results
