"""A real `deploy-compare run --quick --repeat 2` with no served target: the in-process stage runs
twice for real (fresh worker processes on the real exports), every row is kept with its
repetition, the report shows one row per artifact with the median (min-max), and `diff` of the
run with itself judges the in-process figures by their spread. Short settings: this checks
what is recorded, not how fast anything is."""

from __future__ import annotations

import csv
import io
import re

import pytest

from deploy_compare.deploy.results import load_results
from deploy_compare.report.diff import SPREAD, diff_runs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# Two artifacts, one profile, one thread setting, the fewest iterations: two short worker
# processes per repetition (all nine artifacts: 75 s, TensorFlow's import alone 11-16 s a time).
SETTINGS = """
[local]
artifacts = ["onnx", "tflite_fp32"]
profiles = ["edge"]
edge_threads = [1]
[local.measure]
warmup_iterations = 2
min_iterations = 20
min_duration_s = 0.05
throughput_min_iterations = 2
throughput_min_duration_s = 0.02
correctness_samples = 16
"""


def test_repeat_2_runs_the_in_process_stage_twice_and_the_report_shows_the_median(short_config, cli_runner, tmp_path):
    _, artifacts = short_config
    settings = tmp_path / "local-repeats.toml"
    runs = tmp_path / "runs"
    settings.write_text(f'[run]\nartifacts_dir = "{artifacts}"\nruns_dir = "{runs}"\n' + SETTINGS)
    proc = cli_runner("run", "--quick", "--repeat", "2", "--targets", "", "--config", str(settings), timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "stage 2/3: local 1/2" in proc.stdout and "stage 3/3: local 2/2" in proc.stdout
    # The second repetition's progress line estimates it from the first one's duration.
    assert "1 in-process repetition(s) at the first one's" in proc.stdout
    run_dir = (runs / "latest").resolve()
    results = load_results(run_dir)
    assert [(s.name, s.status) for s in results.run.stages] == [
        ("export", "OK"),
        ("local 1/2", "OK"),
        ("local 2/2", "OK"),
    ]
    by_rep = {rep: [r for r in results.local if r["repetition"] == rep] for rep in (1, 2)}
    keys = [{(r["artifact"], r["profile"], r["threads"]) for r in rows} for rows in by_rep.values()]
    assert keys[0] == keys[1] == {("onnx", "edge", 1), ("tflite_fp32", "edge", 1)}  # [local] artifacts
    assert all(r["status"] == "OK" for r in results.local) and len(results.local) == 4
    assert (run_dir / "logs" / "bench_local" / "repetition-2").is_dir()
    # The views: one row per artifact, median (min-max) over the two repetitions.
    report = (run_dir / "report.md").read_text()
    assert "measured 2 times" in report
    row = next(line for line in report.splitlines() if line.startswith("| tflite_fp32 | tflite | edge, 1 thread"))
    p50 = [cell.strip() for cell in row.strip("|").split("|")][5]  # artifact, runtime, where, status, load ms, p50
    # "0.0512 (0.0498-0.0540) [0.0490-0.0551]": the median (min-max), then the hull of the intervals
    assert re.fullmatch(r"[\d.]+ \([\d.]+-[\d.]+\) \[[\d.]+-[\d.]+\]", p50), row
    parsed = list(csv.DictReader(io.StringIO((run_dir / "results.csv").read_text())))
    assert len([r for r in parsed if r["kind"] == "local"]) == len(keys[0])
    # diff of the run with itself: quiet, and the in-process figures judged by their spread.
    report_diff = diff_runs(results, results)
    assert not report_diff.regressions and report_diff.a_repetitions == 2
    local_p50 = [r for r in report_diff.rows if r.key.startswith("local ") and r.key.endswith(" p50_ms")]
    assert local_p50 and all(r.rule == SPREAD for r in local_p50)
    same = cli_runner("diff", str(run_dir), str(run_dir))
    assert same.returncode == 0 and "no regression beyond the noise" in same.stdout
