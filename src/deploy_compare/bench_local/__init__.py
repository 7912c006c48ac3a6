"""The local benchmark: every artifact in its in-process runtime, per profile and thread setting.

API (for the pipeline, issue 6):

    from deploy_compare.bench_local import BenchConfig, MeasureSettings, run_local_benchmarks
    results = run_local_benchmarks(manifest_dir, artifacts=None,            # None = all
                                   config=BenchConfig(profiles=("server", "edge"),
                                                      server_threads=(1, 2), edge_threads=(1,),
                                                      settings=MeasureSettings.quick()),
                                   progress=print, log_dir=run_dir / "logs" / "bench_local")
    # -> list[BenchResult], one per (artifact, profile, threads), status OK / SKIPPED / FAILED
    doc = results_document(results, device="local", command=sys.argv)   # the JSON written to disk
    markdown_table(results)                                              # a view

Each job runs in a fresh `python -m deploy_compare.bench_local.worker` process (thread pools
are per process, RSS growth must be per artifact, pinning must not leak). The "edge"
profile pins each job to `threads` cores (1 by default) with sched_setaffinity where the
OS allows it; the row's pinned_cores says what was applied (None = not pinned, note why).

Figures per row (procedure.py): import_ms, load_ms, first_inference_ms; single-stream
latency p50/p90/p99/max/mean over >= min_iterations AND >= min_duration_s (warm-up
excluded); throughput_samples_per_s at batch sizes 1, 8, 32 (batch 1 = the single-stream
run); rss_import_mib and rss_growth_mib (peak RSS growth from importing the runtime, and
from model load through all inference); file_size_bytes; top1_agreement with the PyTorch
reference over samples_checked held-out samples.

Module map: timing.py (the loop) / procedure.py (what is timed) / result.py (BenchResult +
document) are pure (stdlib + numpy + each other, Python 3.9 syntax): edge-bundle assembles
them, with deploy_compare/statistics.py (percentiles), machine.py (RSS, pinning, machine),
quantization.py, tflite_invoke.py and edge/runner.py, into the standalone run_edge.py
(edge/assemble.py lists them and refuses any other import). schema.py validates documents
against the schema generated from BenchResult (record_schema.py); config.py, worker.py, suite.py, table.py are project-only.
Importing this package imports no ML framework.
"""

from __future__ import annotations

from .config import BenchConfig, BenchJob
from .procedure import MeasureSettings
from .result import BenchResult, results_document
from .suite import run_local_benchmarks
from .table import markdown_table

__all__ = [
    "BenchConfig",
    "BenchJob",
    "BenchResult",
    "MeasureSettings",
    "markdown_table",
    "results_document",
    "run_local_benchmarks",
]
