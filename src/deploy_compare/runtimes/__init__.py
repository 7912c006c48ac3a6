"""In-process runtimes behind one interface (see base.Runtime).

    from deploy_compare.runtimes import open_runtime
    with open_runtime(manifest_dir, manifest, "onnx", threads=1) as rt:
        logits = rt.predict(batch_in_logical_layout_float32)

Registry entries are imported lazily: importing this package imports no ML framework.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RuntimeUnavailable
from ..lazy import LazyRegistry
from ..manifest import Manifest, check_artifact_file
from .base import RUNTIME_FOR_FORMAT

__all__ = ["RUNTIMES", "RUNTIME_FOR_FORMAT", "open_runtime", "runtime_class"]

RUNTIMES = LazyRegistry(
    "runtime",
    {
        "torchscript": "deploy_compare.runtimes.torchscript:TorchScriptRuntime",
        "aoti": "deploy_compare.runtimes.aoti:AOTInductorRuntime",
        "onnxruntime": "deploy_compare.runtimes.onnxruntime:OnnxRuntime",
        "tensorflow": "deploy_compare.runtimes.tensorflow:SavedModelRuntime",
        "tflite": "deploy_compare.runtimes.tflite:TFLiteRuntime",
    },
)


def runtime_class(format_name: str):
    name = RUNTIME_FOR_FORMAT[format_name]
    try:
        return RUNTIMES.load(name)
    except ImportError as exc:
        raise RuntimeUnavailable(f"runtime {name!r} unavailable: {exc}") from None


def open_runtime(
    manifest_dir: Path, manifest: Manifest, artifact: str, threads: int | None = None, check_hash: bool = True
):
    """Load one artifact of the manifest in its runtime."""
    entry = manifest.artifact(artifact)
    path = check_artifact_file(manifest_dir, entry) if check_hash else Path(manifest_dir) / entry.path
    cls = runtime_class(entry.format)
    try:
        return cls(path, entry, manifest.model.layout, threads, manifest.model.inputs)
    except ImportError as exc:  # the runtime's package is imported lazily, inside _load
        raise RuntimeUnavailable(f"runtime {cls.name!r} unavailable: {exc}") from None
