"""The bundle's run_edge.py in a fresh virtualenv holding only numpy and ai-edge-litert.

The venvs are built once into .cache/edge-venvs/<python>-numpy<v>-litert<v> (installs
come from the local wheel cache/index and are fast) and reused while the versions match.
Two of them: the main Python with the lock's numpy and ai-edge-litert (always), and a
real Python 3.9 with the newest releases that still support it (where a 3.9 interpreter
is installed), which proves the "Python >= 3.9" promise on an actual 3.9.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest

from deploy_compare.bench_local.schema import read_document

pytestmark = pytest.mark.runtime

REPO = Path(__file__).resolve().parents[2]
VENV_CACHE = REPO / ".cache" / "edge-venvs"
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


def _clean_env() -> dict[str, str]:
    # Nothing from this venv or the test's environment may leak in (PYTHONPATH, VIRTUAL_ENV, ...).
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
    }


def _python39() -> str | None:
    candidates = [
        shutil.which("python3.9"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9"))),
    ]
    for candidate in filter(None, candidates):
        proc = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"], capture_output=True, text=True
        )
        if proc.returncode == 0 and proc.stdout.strip() == "True":
            return candidate
    return None


def _fresh_venv(python: str, tag: str, requirements: list[str]) -> Path:
    """A venv with only `requirements` (and what they depend on), built once and cached."""
    key = f"{tag}-" + "-".join(r.replace("==", "") for r in requirements)
    venv = VENV_CACHE / key
    if (venv / "READY").exists():
        return venv
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".partial", dir=VENV_CACHE))
    try:
        subprocess.run([python, "-m", "venv", str(tmp)], check=True, env=_clean_env(), capture_output=True)
        proc = subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(requirements)} failed: {proc.stderr.strip()[-800:]}")
        (tmp / "READY").write_text(" ".join(requirements) + "\n")
        shutil.rmtree(venv, ignore_errors=True)
        os.replace(tmp, venv)  # venvs hard-code their path in bin/ scripts; `python` itself is fine
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return venv


def _variants():
    main = pytest.param(
        sys.executable,
        "py" + "".join(map(str, sys.version_info[:2])),
        [f"numpy=={version('numpy')}", f"ai-edge-litert=={version('ai-edge-litert')}"],
        id="lock-versions",
    )
    py39 = pytest.param("python3.9", "py39", ["numpy==2.0.2", "ai-edge-litert==2.1.0"], id="python3.9")
    return [main, py39]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("python,tag,requirements", _variants())
def test_runner_in_a_fresh_venv_with_only_numpy_and_litert(edge_bundle, tmp_path, python, tag, requirements):
    if python == "python3.9":
        python = _python39()
        if python is None:
            pytest.skip("no Python 3.9 interpreter installed here")
    try:
        venv = _fresh_venv(python, tag, requirements)
    except RuntimeError as exc:
        if tag == "py39":  # the optional variant may lack wheels offline; the main one must not
            pytest.skip(f"could not build the Python 3.9 venv: {exc}")
        raise
    venv_python = str(venv / "bin" / "python")

    proc = subprocess.run(
        [venv_python, "-c", PROVE_ISOLATION],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(),
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
        env=_clean_env(),
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
