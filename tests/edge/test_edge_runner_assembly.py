"""The bundle's run_edge.py is assembled from edge/runner.py and the pure measurement modules.

These tests keep the assembled script standalone (Python 3.9 syntax; imports only stdlib,
numpy and, lazily, a TFLite runtime; every name it uses defined in it), and check that
the assembler refuses, with a typed error naming the file, a part it cannot assemble.
The full run of the script in a fresh venv is in test_edge_runner_fresh_venv.py.
"""

from __future__ import annotations

import ast
import builtins
import shutil
import subprocess
import symtable
import sys
from pathlib import Path

import pytest

from deploy_compare.edge import assemble
from deploy_compare.edge.assemble import AssemblyError, assemble_runner

pytestmark = pytest.mark.unit

FORBIDDEN_ROOTS = {"deploy_compare", "torch", "tensorflow"}
LAZY = {"ai_edge_litert", "tflite_runtime"}
# Runs a script with deploy_compare/torch/tensorflow unimportable: -I alone would not hide
# deploy_compare, which this venv installs in editable mode.
RUN_BLOCKED = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in %r:
            raise ImportError("blocked by the test: " + name)
sys.meta_path.insert(0, Block())
script = sys.argv.pop(1)
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
""" % (sorted(FORBIDDEN_ROOTS),)


@pytest.fixture(scope="module")
def source() -> str:
    return assemble_runner()


def test_assembled_runner_is_python39_syntax(source, tmp_path):
    assert source.startswith("#!/usr/bin/env python3\n")
    tree = ast.parse(source, feature_version=(3, 9))
    assert ast.get_docstring(tree).startswith("run_edge.py: benchmark this bundle's TFLite models")
    assert "from __future__ import annotations" in source  # annotations are never evaluated on 3.9
    python39 = shutil.which("python3.9")
    if python39:  # a real 3.9 where one is installed (a pyenv shim may exist without one)
        script = tmp_path / "run_edge.py"
        script.write_text(source, encoding="utf-8")
        proc = subprocess.run(
            [python39, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", str(script)],
            capture_output=True,
            text=True,
        )
        if "command not found" not in proc.stderr:
            assert proc.returncode == 0, proc.stderr


def test_assembled_runner_imports_only_stdlib_numpy_and_lazily_a_tflite_runtime(source):
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    roots: dict[str, bool] = {}  # imported top-level package -> imported at module level
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: relative import left in the standalone script"
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            roots[root] = roots.get(root, False) or id(node) in top_level
    assert not FORBIDDEN_ROOTS & set(roots)
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "__future__"}
    assert third_party == {"numpy"}  # runtimes/tflite.py imports the TFLite runtime by name, when a model loads
    assert not any(roots.get(r) for r in LAZY), "a TFLite runtime imported at module level: no SKIPPED rows without it"
    assert '("ai_edge_litert.interpreter", "ai-edge-litert")' in source


def _global_lookups(table: symtable.SymbolTable) -> set[str]:
    """Names that functions and classes of the script look up in the module's namespace."""
    names = set()
    for child in table.get_children():
        names.update(
            s.get_name() for s in child.get_symbols() if s.is_referenced() and s.is_global() and not s.is_assigned()
        )
        names |= _global_lookups(child)
    return names


def test_every_name_the_script_uses_is_defined_in_it(source):
    table = symtable.symtable(source, "run_edge.py", "exec")
    module_names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    module_names |= set(dir(builtins)) | {"__file__", "__spec__", "__package__", "__name__"}
    missing = sorted(_global_lookups(table) - module_names)
    assert not missing, f"used but not defined in run_edge.py (NameError on the device): {missing}"
    # The runner's own part takes these from the pure modules; each must be defined, not imported.
    runner_tree = ast.parse(Path(assemble._path(assemble.RUNNER_MODULE)).read_text(encoding="utf-8"))
    from_pure = {a.name for n in runner_tree.body if isinstance(n, ast.ImportFrom) and n.level for a in n.names}
    assert {"measure_artifact", "BenchResult", "TFLiteRuntime", "load_manifest"} <= from_pure
    assert from_pure <= {s.get_name() for s in table.get_symbols() if s.is_assigned() and not s.is_imported()}


def test_the_edge_runner_reports_intervals_with_its_percentiles(source, tmp_path):
    """confidence.py is a pure part (PURE_MODULES) before statistics.py: the device's
    latency summary carries the same 95% intervals and the precision stop as the host's."""
    assert assemble.PURE_MODULES.index("confidence") < assemble.PURE_MODULES.index("statistics")
    import runpy

    import numpy as np

    script = tmp_path / "run_edge.py"
    script.write_text(source, encoding="utf-8")
    namespace = runpy.run_path(str(script), run_name="run_edge_under_test")  # defines only: main() is not run
    summary = namespace["latency_summary"](np.arange(1, 1001, dtype=np.float64) * 1e6)
    assert summary.p99_ci_ms[0] <= summary.p99_ms <= summary.p99_ci_ms[1]
    assert namespace["student_t_quantile"](0.975, 4) == pytest.approx(2.7764, abs=1e-3)  # no scipy on a device


def test_assembled_runner_runs_where_deploy_compare_is_not_importable(source, tmp_path):
    script = tmp_path / "run_edge.py"
    script.write_text(source, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-I", "-c", RUN_BLOCKED, str(script), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--device" in proc.stdout and "--threads" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-I", "-c", RUN_BLOCKED, str(script), "--device", "t", "--quick"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2 and "manifest.json: not found" in proc.stderr  # --bundle defaults to its own dir


def test_assembly_is_deterministic(source):
    assert assemble_runner() == source  # a bundle made twice holds the same run_edge.py


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the package's sources the assembler reads instead, to break on purpose."""
    copy = tmp_path / "deploy_compare"
    shutil.copytree(assemble.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(assemble, "PACKAGE_DIR", copy)

    def edit(relative: str, old: str, new: str) -> Path:
        path = copy / relative
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    return edit


@pytest.mark.parametrize(
    "relative,old,new,message",
    [
        (
            "statistics.py",
            "import numpy as np\n",
            "import numpy as np\nimport torch\n",
            r"statistics\.py:\d+: imports torch",
        ),
        (
            "bench_local/timing.py",
            "import numpy as np\n",
            "import numpy as np\n\nfrom ..lazy import import_object\n",
            r"timing\.py:\d+: imports deploy_compare\.lazy, which is not a pure module",
        ),
        (
            "bench_local/timing.py",
            "import numpy as np\n",
            "import numpy as np\n\nfrom .result import BenchResult\n",
            r"timing\.py:\d+: imports deploy_compare\.bench_local\.result, which is not a pure module listed before",
        ),
        (
            "machine.py",
            "        import resource\n",
            "        import tensorflow\n",
            r"machine\.py:\d+: imports tensorflow",
        ),
        (
            "statistics.py",
            "def throughput_per_s(",
            "def time_calls(",
            r"statistics\.py: top-level name 'time_calls' is also defined by deploy_compare\.bench_local\.timing",
        ),
        (
            "bench_local/procedure.py",
            "from .timing import time_calls\n",
            "from .timing import time_calls as tc\n",
            r"procedure\.py:\d+: `time_calls as tc` is not a top-level name",
        ),
        (
            "quantization.py",
            "    info = np.iinfo(dtype)\n",
            "    info = np.iinfo(dtype)\n    match dtype:\n        case _: pass\n",
            r"quantization\.py:\d+: not Python 3\.9 syntax",
        ),
    ],
)
def test_assembler_refuses_what_it_cannot_assemble(package_copy, relative, old, new, message):
    package_copy(relative, old, new)
    with pytest.raises(AssemblyError, match=message):
        assemble_runner()
