"""The edge bundle on aarch64: Debian's arm64 Python 3.11 + the aarch64 ai-edge-litert wheel under qemu.

The root file system is built once from Debian's and PyPI's packages (edge/emulation.py)
and cached under .cache/arm64-rootfs/<key> (conftest.py: arm64_root, shared with the ssh tier). The bundle's run_edge.py runs there exactly
as on a board; its result must validate, be accepted by ingest-edge, be marked emulated,
and its models' predictions on the bundle's samples must equal this x86 machine's within
each artifact's tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pytest

from deploy_compare.bench_local.schema import read_document
from deploy_compare.edge.emulation import emulator_prefix, python_command
from deploy_compare.edge.ingest import ingest_edge_result

pytestmark = pytest.mark.arm

DEVICE = "qemu-arm64"

#: runs inside the emulated Python: the bundle's TFLite runtime (runtimes/tflite.py, assembled in) on its own samples
PREDICT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import run_edge
bundle, out = sys.argv[1], sys.argv[2]
manifest = run_edge.load_manifest(bundle)
x = run_edge.EvalData.load(bundle, run_edge.SAMPLES_NAME).x
engine = run_edge.TFLiteRuntime.import_engine()
arrays = {}
for name, entry in manifest.artifacts.items():
    model = run_edge.tflite_only(entry.format)(run_edge.Path(bundle) / entry.path, entry, manifest.model.layout, 1)
    arrays[name] = np.concatenate([model.predict(x[i : i + 32]) for i in range(0, len(x), 32)])
np.savez(out, **arrays)
print(json.dumps({"engine": engine, "models": sorted(arrays)}))
"""


def _env() -> dict[str, str]:
    # Nothing of this venv may leak into the emulated Python (PYTHONPATH, VIRTUAL_ENV, ...).
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


def _tolerance(entry: dict) -> float:
    """Float variants: the export's float tolerance; int8 outputs: one quantization step."""
    out = entry["outputs"][0]
    if out.get("quantization") and out.get("dtype") in ("int8", "uint8"):
        return float(out["quantization"]["scale"]) * 1.01
    return 1e-4


def test_emulated_python_is_aarch64_with_only_numpy_and_litert(arm64_root):
    probe = (
        "import platform, sys, importlib.util as u; print(platform.machine(), sys.version_info[:2] >= (3, 9), "
        "[m for m in ('torch', 'tensorflow', 'deploy_compare') if u.find_spec(m)])"
    )
    proc = subprocess.run(
        [*python_command(arm64_root), "-c", probe], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["aarch64", "True", "[]"]


def test_bundle_on_aarch64_validates_ingests_and_matches_x86(arm64_root, edge_bundle, tmp_path):
    from deploy_compare.edge.runner import SAMPLES_NAME
    from deploy_compare.evaldata import EvalData
    from deploy_compare.manifest import load_manifest
    from deploy_compare.runtimes import open_runtime

    bundle = tmp_path / "bundle"
    subprocess.run(["cp", "-r", str(edge_bundle), str(bundle)], check=True)
    out = tmp_path / f"{DEVICE}.json"
    emulator = " ".join(emulator_prefix(arm64_root))
    started = time.monotonic()
    proc = subprocess.run(
        [
            *python_command(arm64_root),
            str(bundle / "run_edge.py"),
            "--device",
            DEVICE,
            "--quick",
            "--out",
            str(out),
            "--emulator",
            emulator,
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=1500,
    )
    print(f"run_edge.py under {emulator}: {time.monotonic() - started:.1f}s\n{proc.stdout}")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    doc, results = read_document(out)  # the schema the local benchmark writes
    assert doc["device"] == DEVICE
    assert {r.artifact for r in results} == set(json.loads((bundle / "manifest.json").read_text())["artifacts"])
    for r in results:
        assert r.status == "OK", r.reason
        assert r.machine["machine"] == "aarch64"
        assert "emulator" in r.machine["emulated"]
        assert any(n.startswith("EMULATED") for n in r.notes)
        assert r.runtime_version == "ai-edge-litert 2.3.0"
        assert r.invoke_p50_ms is not None and r.xnnpack_ops is not None
        assert r.top1_agreement is not None and r.top1_agreement >= 0.95

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stored = ingest_edge_result(out, run_dir)
    assert stored == run_dir / "edge" / f"{DEVICE}.json"

    # Predictions: the bundle's own model class on aarch64 vs this package's runtime on x86.
    arm_out = tmp_path / "arm_predictions.npz"
    proc = subprocess.run(
        [*python_command(arm64_root), "-c", PREDICT, str(bundle), str(arm_out)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = load_manifest(bundle)
    x = EvalData.load(bundle, SAMPLES_NAME).x
    with np.load(arm_out) as arm:
        assert sorted(arm.files) == sorted(manifest.artifacts)
        for name in manifest.artifacts:
            with open_runtime(bundle, manifest, name, threads=1) as runtime:
                x86 = np.concatenate([runtime.predict(x[i : i + 32]) for i in range(0, len(x), 32)])
            entry = json.loads((bundle / "manifest.json").read_text())["artifacts"][name]
            diff = float(np.abs(arm[name] - x86).max())
            print(f"{name}: max |aarch64 - x86| = {diff:.3g} (tolerance {_tolerance(entry):.3g})")
            assert diff <= _tolerance(entry), name
            assert (arm[name].argmax(1) == x86.argmax(1)).mean() >= 0.99, name
