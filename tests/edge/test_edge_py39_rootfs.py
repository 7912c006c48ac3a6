"""The bundle's run_edge.py on Debian bullseye's own Python 3.9, the oldest Python it promises.

The root file system is built like the arm tier's (edge/emulation.py, recipe_py39): bullseye's
amd64 packages from debootstrap --variant=minbase, plus only the cp39 wheels of numpy 1.26.4
and tflite-runtime 2.14.0 (ai-edge-litert publishes none for 3.9), downloaded on the host; it is
cached under .cache/py39-rootfs/<key> (about a minute to build, busy machine). The bundle is
copied into it and run in a chroot (root: CI runs as root): no network, nothing of this venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from deploy_compare.bench_local.schema import read_document
from deploy_compare.edge.emulation import (
    PY39_WHEELS,
    EmulationUnavailable,
    build_rootfs,
    check_tools,
    chroot_python_command,
    recipe_py39,
)
from deploy_compare.edge.ingest import ingest_edge_result

pytestmark = [pytest.mark.py39, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "py39-rootfs"
DEVICE = "bullseye-py39"
RECIPE = recipe_py39()
PROBE = (
    "import importlib.util as u, json, platform, sys, numpy; print(json.dumps({'python': platform.python_version(), "
    "'numpy': numpy.__version__, 'importable': [m for m in ('torch', 'tensorflow', 'deploy_compare', "
    "'ai_edge_litert', 'onnxruntime', 'jsonschema') if u.find_spec(m)]}))"
)


#: What tflite-runtime 2.14.0 (the last with a 3.9 wheel) cannot run from today's converter, and
#: the message run_edge.py must fail that row with; every other artifact must measure OK.
TOO_NEW_FOR_2_14 = {"tflite_dynamic_int8": "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'"}


def _env() -> dict[str, str]:
    # Nothing of this venv may leak into the chroot's Python (PYTHONPATH, VIRTUAL_ENV, ...).
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


@pytest.fixture(scope="session")
def py39_root():
    try:
        check_tools(RECIPE)
    except EmulationUnavailable as exc:
        pytest.skip(f"Debian root file system unavailable here: {exc} (.ci/run installs debootstrap)")
    if os.geteuid() != 0:
        pytest.skip("chroot needs root (CI runs as root)")
    started = time.monotonic()
    root = build_rootfs(RECIPE, CACHE, progress=print)
    print(f"bullseye rootfs ready in {time.monotonic() - started:.1f}s: {root}")
    return root


@pytest.fixture()
def bundle_in_root(py39_root, edge_bundle):
    """The bundle copied into the chroot (its path there, its path here); removed afterwards."""
    inside = Path("tmp") / f"bundle-{os.getpid()}-{time.monotonic_ns()}"
    shutil.copytree(edge_bundle, py39_root / inside)
    yield "/" + str(inside), py39_root / inside
    shutil.rmtree(py39_root / inside, ignore_errors=True)


def test_the_chroot_has_python_3_9_with_only_numpy_and_tflite_runtime(py39_root):
    proc = subprocess.run(
        [*chroot_python_command(py39_root, RECIPE), "-c", PROBE],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout)
    assert probe["python"].startswith("3.9."), probe
    assert probe["numpy"] == PY39_WHEELS[0].split("==")[1]
    assert probe["importable"] == []


def test_run_edge_on_python_3_9_validates_and_ingests(py39_root, bundle_in_root, tmp_path):
    inside, here = bundle_in_root
    started = time.monotonic()
    proc = subprocess.run(
        [*chroot_python_command(py39_root, RECIPE), f"{inside}/run_edge.py", "--device", DEVICE, "--quick"]
        + ["--out", f"{inside}/{DEVICE}.json"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=1200,
    )
    print(f"run_edge.py on bullseye's Python 3.9: {time.monotonic() - started:.1f}s (busy machine)\n{proc.stdout}")
    assert proc.returncode == (1 if TOO_NEW_FOR_2_14 else 0), proc.stdout + proc.stderr  # 1: a row failed

    out = here / f"{DEVICE}.json"
    doc, results = read_document(out)  # the schema the local benchmark writes
    assert doc["device"] == DEVICE
    assert {r.artifact for r in results} == set(json.loads((here / "manifest.json").read_text())["artifacts"])
    for r in results:
        if r.artifact in TOO_NEW_FOR_2_14:
            assert r.status == "FAILED" and TOO_NEW_FOR_2_14[r.artifact] in (r.reason or ""), (r.status, r.reason)
            continue
        assert r.status == "OK", r.reason
        assert r.machine["python"].startswith("3.9."), r.machine
        assert r.runtime_version == "tflite-runtime " + PY39_WHEELS[1].split("==")[1]
        assert r.invoke_p50_ms is not None and r.invoke_p50_ms > 0
        assert r.top1_agreement is not None and r.top1_agreement >= 0.95, (r.artifact, r.top1_agreement)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert ingest_edge_result(out, run_dir) == run_dir / "edge" / f"{DEVICE}.json"
