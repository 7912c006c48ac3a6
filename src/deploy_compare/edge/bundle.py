"""Write the edge bundle: everything a device needs to benchmark the TFLite models, nothing more.

The bundle's run_edge.py is assembled here, at bundle time, from edge/runner.py and the
pure measurement modules it imports (see assemble.py), so there is no copy to keep in sync.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, ManifestError
from ..evaldata import EvalData
from ..fileio import atomic_path, write_json_atomic, write_text_atomic
from ..manifest import MANIFEST_NAME, Manifest, check_artifact_file, load_manifest
from .assemble import assemble_runner
from .runner import SAMPLES_NAME

RUNNER_NAME = "run_edge.py"
README_NAME = "README.txt"
#: files that mark a directory as an edge bundle, so --out may replace it
BUNDLE_MARKERS = (RUNNER_NAME, MANIFEST_NAME, SAMPLES_NAME)

README = """deploy-compare edge bundle: {model} ({n} TFLite models)

On the device (Python >= 3.9; no torch, no TensorFlow needed):
    python3 -m pip install numpy ai-edge-litert        # or: numpy tflite-runtime
    python3 run_edge.py --device <label> --out <label>.json    # --quick for a first look
    python3 run_edge.py --help                                  # --threads 1,4  --only NAME  --no-pin

Back on the machine with deploy-compare:
    deploy-compare ingest-edge <label>.json --run runs/latest

Models: {names}
Inputs: {samples} held-out samples in sample_inputs.npz (x in {layout} layout, float32; reference = the
PyTorch model's outputs, for the top-1 agreement check).
"""


def _tflite_names(manifest: Manifest, artifacts: Sequence[str] | None) -> list[str]:
    tflite = [name for name, entry in manifest.artifacts.items() if entry.format == "tflite"]
    if not artifacts:
        if not tflite:
            raise ManifestError(
                f"the manifest has no TFLite artifact to bundle (export failures: {manifest.failures or 'none'})"
            )
        return tflite
    bad = [name for name in artifacts if name not in tflite]
    if bad:
        raise ConfigError(f"not a TFLite artifact of this manifest: {', '.join(bad)}; have: {', '.join(tflite)}")
    return list(dict.fromkeys(artifacts))


def _check_out_dir(out_dir: Path) -> None:
    # The bundle replaces out_dir whole: refuse to wipe a directory that is not a bundle.
    if out_dir.exists() and (
        not out_dir.is_dir()
        or (any(out_dir.iterdir()) and not all((out_dir / marker).exists() for marker in BUNDLE_MARKERS))
    ):
        raise ConfigError(f"{out_dir}: exists and is not an edge bundle; choose an empty or new directory")


def write_edge_bundle(
    manifest_dir: Path, out_dir: Path, artifacts: Sequence[str] | None = None, samples: int = 128
) -> Path:
    """Build the bundle in a temporary directory and move it into place (never half-written)."""
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}")
    runner_source = assemble_runner()  # first: a runner that cannot be assembled is a bug, not a bundle
    manifest_dir, out_dir = Path(manifest_dir), Path(out_dir)
    manifest = load_manifest(manifest_dir)
    names = _tflite_names(manifest, artifacts)
    _check_out_dir(out_dir)
    sample_data = EvalData.load(manifest_dir).head(samples)

    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        entries = {}
        for name in names:
            entry = manifest.artifacts[name]
            source = check_artifact_file(manifest_dir, entry)  # never ship a corrupt file
            shutil.copy2(source, tmp / Path(entry.path).name)
            entries[name] = dataclasses.replace(entry, path=Path(entry.path).name)
        subset = dataclasses.replace(manifest, artifacts=entries, failures={})
        write_json_atomic(tmp / MANIFEST_NAME, subset.to_dict())
        sample_data.save(tmp, SAMPLES_NAME)
        (tmp / RUNNER_NAME).write_text(runner_source, encoding="utf-8")
        (tmp / RUNNER_NAME).chmod(0o755)
        write_text_atomic(
            tmp / README_NAME,
            README.format(
                model=manifest.model.name,
                n=len(names),
                names=", ".join(names),
                samples=len(sample_data.x),
                layout=manifest.model.layout,
            ),
        )
    return out_dir
