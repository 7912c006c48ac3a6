"""The bundle's run_edge.py in a fresh virtualenv holding only numpy and ai-edge-litert.

The venv is built once and cached (edge_venvs.py, shared with the ssh tier's device): the
main Python with the lock's numpy and ai-edge-litert. The "Python >= 3.9" promise is proved
on Debian bullseye's own 3.9 in test_edge_py39_rootfs.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from edge_venvs import clean_env, fresh_venv, lock_variant

from deploy_compare.bench_local.schema import read_document

pytestmark = pytest.mark.runtime

FORBIDDEN = ["torch", "tensorflow", "deploy_compare", "onnxruntime", "onnx", "tflite_runtime", "jsonschema"]
PROVE_ISOLATION = """
import importlib, json, sys
result = {"python": sys.version.split()[0], "importable": [], "refused": {}}
for name in %r:
    try:
        importlib.import_module(name)
        result["importable"].append(name)
    except ImportError as exc:
        result["refused"][name] = type(exc).__name__
import numpy, ai_edge_litert.interpreter
result["numpy"] = numpy.__version__
print(json.dumps(result))
""" % (FORBIDDEN,)


@pytest.mark.timeout(900)
def test_runner_in_a_fresh_venv_with_only_numpy_and_litert(edge_bundle, tmp_path):
    python, tag, requirements = lock_variant()
    venv = fresh_venv(python, tag, requirements)
    venv_python = str(venv / "bin" / "python")

    proc = subprocess.run(
        [venv_python, "-c", PROVE_ISOLATION],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    isolation = json.loads(proc.stdout)
    assert isolation["importable"] == [], f"importable in the fresh venv: {isolation['importable']}"
    assert set(isolation["refused"]) == set(FORBIDDEN)
    assert isolation["numpy"] == requirements[0].split("==")[1]

    out = tmp_path / "fresh.json"
    proc = subprocess.run(
        [venv_python, str(edge_bundle / "run_edge.py"), "--device", f"fresh-{tag}", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc, results = read_document(out)  # the same schema as the local benchmark
    assert doc["device"] == f"fresh-{tag}"
    assert [r.artifact for r in results] == [
        *("tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8", "tflite_int8_selective"),
        *("litert_torch_fp32", "litert_torch_int8"),
    ]
    for r in results:
        assert r.status == "OK", r.reason
        assert r.machine["python"] == isolation["python"] and r.machine["numpy"] == isolation["numpy"]
        assert r.runtime_version == "ai-edge-litert " + requirements[1].split("==")[1]
        assert r.top1_agreement is not None and r.top1_agreement >= 0.95
