"""The standalone runner carries verbatim copies of the package's pure measurement code.

These tests keep the copies identical (so the edge rows are measured exactly like the
local ones), and keep the runner standalone: Python 3.9 syntax, no import of this project,
torch or TensorFlow.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import subprocess
from pathlib import Path

import pytest

import deploy_compare.edge.runner as runner
from deploy_compare.bench_local import environment, procedure, result, stats, timing
from deploy_compare.runtimes import base

pytestmark = pytest.mark.unit

RUNNER_PATH = Path(runner.__file__)

# Each canonical module's objects that the runner copies (all of them for the pure modules).
COPIED = [
    (timing, ["Timing", "time_calls"]),
    (stats, ["LatencyStats", "latency_summary", "throughput_per_s", "top1_agreement"]),
    (procedure, ["MeasureSettings", "Measurement", "_batches", "measure"]),
    (environment, ["peak_rss_mib", "allowed_cores", "pin_to_cores", "_cpu_model", "_memory_total_mib",
                   "machine_description"]),
    (result, ["RESULT_SCHEMA_VERSION", "RESULTS_KIND", "STATUSES", "PROFILES", "DEVICE_LABEL_PATTERN",
              "BenchResult", "results_document"]),
    (base, ["quantize", "dequantize"]),
]


def _top_level_names(module) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize("module,names", COPIED, ids=lambda v: getattr(v, "__name__", "names"))
def test_runner_copies_are_identical(module, names):
    if module is not base:  # the pure modules are copied whole: a new object must be listed (and copied)
        assert _top_level_names(module) == set(names), f"update COPIED and runner.py for {module.__name__}"
    for name in names:
        original, copy = getattr(module, name), getattr(runner, name)
        if inspect.isfunction(original) or inspect.isclass(original):
            assert inspect.getsource(copy) == inspect.getsource(original), (
                f"{name} in {RUNNER_PATH.name} differs from {module.__name__}: copy it over verbatim")
        else:
            assert copy == original, f"{name} differs between {RUNNER_PATH.name} and {module.__name__}"


def test_runner_imports_only_stdlib_and_numpy():
    allowed_third_party = {"numpy"}
    tree = ast.parse(RUNNER_PATH.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: the runner is a standalone script"
            imported.add(node.module.split(".")[0])
    import sys
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "__future__"}
    # the TFLite runtimes are imported lazily, inside load_interpreter_class
    assert third_party == allowed_third_party | {"ai_edge_litert", "tflite_runtime"}


def test_runner_is_python39_syntax():
    source = RUNNER_PATH.read_text(encoding="utf-8")
    assert "from __future__ import annotations" in source  # annotations never evaluated on 3.9
    ast.parse(source, feature_version=(3, 9))
    python39 = shutil.which("python3.9")
    if python39:  # a real 3.9 interpreter where one is installed (pyenv may shim it without one)
        proc = subprocess.run([python39, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())",
                               str(RUNNER_PATH)], capture_output=True, text=True)
        if "command not found" not in proc.stderr:
            assert proc.returncode == 0, proc.stderr
