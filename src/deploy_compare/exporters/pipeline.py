"""Export one model to every format, verify each artifact, write manifest.json.

Steps run in order; a step whose input failed is recorded as failed too ("needs onnx,
which failed") while independent steps still run, so one broken converter never loses
the other artifacts. The manifest is rewritten (atomically) after every step: a crash
keeps what was finished. An artifact from an earlier run is reused when the model's
content hash, the tools (and the exporters' own code) and the file's sha256 still match;
verification (and a step's analysis, such as litert_torch_int8's per-layer comparison) always
runs again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..batches import batch_len, is_named
from ..errors import (
    ConfigError,
    DeployCompareError,
    ExportError,
    ExportNotApplicable,
    ManifestError,
    VerificationError,
    first_line,
)
from ..evaldata import EvalData
from ..lazy import import_object
from ..manifest import ArtifactEntry, Manifest, ModelInfo, TensorSpec, check_artifact_file, load_manifest
from ..versions import package_versions
from .base import DEFAULT_OPSET, ExportContext, quiet_tensorflow, torch_args
from .verify import ParityThresholds, reference_accuracy, verify_artifact


@dataclass(frozen=True)
class ExportStep:
    name: str
    exporter: str  # "module:function" returning list[ArtifactEntry]
    requires: tuple[str, ...] = ()
    #: "module:function"(ctx, entry) adding findings to entry.details; like verification it runs on a
    #: reused artifact too (what it finds may be new since the file was made)
    analysis: str | None = None


STEPS: tuple[ExportStep, ...] = (
    ExportStep("torchscript", "deploy_compare.exporters.torchscript:export"),
    # torch.export + AOTInductor: PyTorch's recommended deployment route (TorchScript is deprecated)
    ExportStep("aoti", "deploy_compare.exporters.aoti:export"),
    ExportStep("onnx", "deploy_compare.exporters.onnx_export:export"),
    ExportStep("onnx_int8", "deploy_compare.exporters.onnx_quant:export_int8", ("onnx",)),
    ExportStep("savedmodel", "deploy_compare.exporters.savedmodel:export", ("onnx",)),
    ExportStep("tflite_fp32", "deploy_compare.exporters.tflite:export_fp32", ("savedmodel",)),
    ExportStep("tflite_fp16", "deploy_compare.exporters.tflite:export_fp16", ("savedmodel",)),
    ExportStep("tflite_dynamic_int8", "deploy_compare.exporters.tflite:export_dynamic_int8", ("savedmodel",)),
    ExportStep("tflite_int8", "deploy_compare.exporters.tflite:export_int8", ("savedmodel",)),
    # full int8 with the layers that lose most kept in float (QuantizationDebugger's ranking)
    ExportStep("tflite_int8_selective", "deploy_compare.exporters.quant_debug:export_int8_selective", ("savedmodel",)),
    # the second TFLite route: litert-torch, straight from the PyTorch module (no ONNX, no onnx2tf)
    ExportStep("litert_torch_fp32", "deploy_compare.exporters.litert_torch_export:export_fp32"),
    # ... its int8 file's layers ranked against its fp32 file's (the litert-torch route's per-layer error)
    ExportStep(
        "litert_torch_int8",
        "deploy_compare.exporters.litert_torch_export:export_int8",
        analysis="deploy_compare.exporters.litert_torch_layers:compare_layers",
    ),
)
ARTIFACT_NAMES = tuple(step.name for step in STEPS)
#: the .tflite files of both routes: what an edge bundle ships (the other formats are not needed there)
TFLITE_NAMES = tuple(name for name in ARTIFACT_NAMES if name.startswith(("tflite_", "litert_torch_")))
TOOLS = (
    *("torch", "onnx", "onnxscript", "onnxruntime", "onnx2tf", "tensorflow-cpu", "ai-edge-litert", "numpy"),
    "litert-torch",
)


@dataclass
class ExportOptions:
    model: str = "builtin"
    out_dir: Path = Path("artifacts")
    cache_dir: Path = Path(".cache/models")
    only: tuple[str, ...] = ARTIFACT_NAMES
    thresholds: ParityThresholds = field(default_factory=ParityThresholds)
    parity_failures_are_errors: bool = True
    reuse: bool = True
    opset: int = DEFAULT_OPSET

    def __post_init__(self) -> None:
        self.out_dir, self.cache_dir = Path(self.out_dir), Path(self.cache_dir)
        unknown = [n for n in self.only if n not in ARTIFACT_NAMES]
        if unknown:
            raise ConfigError(
                f"ExportOptions.only: unknown artifact(s) {', '.join(unknown)}; allowed: {', '.join(ARTIFACT_NAMES)}"
            )
        if self.opset < 13:
            raise ConfigError(f"ExportOptions.opset must be >= 13, got {self.opset}")


def default_out_dir(model: str) -> Path:
    """artifacts/<model name>: the built-in model's name (with its input size), or the factory's."""
    from ..models.names import model_name

    return Path("artifacts") / model_name(model)


def state_dict_hash(module) -> str:
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


EXPORTER_KEY = "deploy_compare exporters"  # in manifest.tools: an exporter edit re-exports, as a tool's upgrade


def exporter_fingerprint() -> str:
    """sha256 (12 hex) of the exporters' own code: a file exported before a change to how it is
    made (frozen TorchScript, say) is not reused as if it were made the new way."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for source in sorted([*package.glob("*.py"), package.parent / "quantization.py"]):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:12]


def _reusable(old: Manifest | None, new: Manifest, name: str, out_dir: Path, opset: int) -> ArtifactEntry | None:
    """An earlier run's artifact, if the same weights went through the same tools and settings."""
    if (
        old is None
        or name not in old.artifacts
        or old.model.content_hash != new.model.content_hash
        or old.tools != new.tools
    ):
        return None
    if "onnx" in old.artifacts and old.artifacts["onnx"].details.get("opset") != opset:
        return None
    entry = old.artifacts[name]
    try:
        check_artifact_file(out_dir, entry)
    except DeployCompareError:
        return None
    return entry


def export_all(options: ExportOptions = ExportOptions(), progress: Callable[[str], None] = print) -> Manifest:
    """Run every export step; return the manifest; raise if anything failed (see options)."""
    import numpy as np
    import torch

    from ..models.loader import load_model

    quiet_tensorflow()
    out_dir = options.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = load_model(options.model, options.cache_dir, progress=progress)
    with torch.no_grad():
        reference = bundle.module(*torch_args(bundle.eval_inputs)).numpy()
    if reference.ndim != 2:
        raise ExportError(f"model {bundle.name!r}: output must be (batch, classes), got shape {reference.shape}")
    data = EvalData(bundle.eval_inputs, bundle.eval_labels, reference.astype(np.float32))
    data.save(out_dir)
    content_hash = state_dict_hash(bundle.module)
    try:
        old = load_manifest(out_dir) if options.reuse else None
    except ManifestError:
        old = None
    manifest = Manifest(
        model=ModelInfo(
            name=bundle.name,
            source=bundle.source,
            input_shape=_logical_inputs(bundle)[0].shape[1:],  # type: ignore[arg-type]
            layout=bundle.layout,
            num_classes=int(reference.shape[1]),
            content_hash=content_hash,
            eval_samples=batch_len(data.x),
            reference_accuracy=reference_accuracy(data),
            inputs=_logical_inputs(bundle) if bundle.input_names else [],
        ),
        artifacts={},
        created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        tools={**package_versions(*TOOLS), EXPORTER_KEY: exporter_fingerprint()},
    )
    ctx = ExportContext(bundle=bundle, out_dir=out_dir, progress=progress, opset=options.opset)
    steps = [s for s in STEPS if s.name in options.only or any(s.name in _needs(o) for o in options.only)]
    for number, step in enumerate(steps, 1):
        prefix = f"[{number}/{len(steps)}] {step.name}"
        missing = [r for r in step.requires if r not in ctx.done]
        if missing:
            manifest.failures[step.name] = f"not exported: needs {', '.join(missing)}, which failed"
            progress(f"{prefix}: SKIPPED ({manifest.failures[step.name]})")
            continue
        entry = _reusable(old, manifest, step.name, out_dir, options.opset)
        started = time.perf_counter()
        if entry is not None:
            progress(f"{prefix}: reusing {entry.path} (model and file unchanged)")
        else:
            progress(f"{prefix}: exporting...")
            try:
                entry = import_object(step.exporter)(ctx)[0]
            except ExportNotApplicable as exc:
                manifest.skipped[step.name] = str(exc)
                progress(f"{prefix}: SKIPPED: {exc}")
                continue
            except DeployCompareError as exc:
                manifest.failures[step.name] = str(exc)
                progress(f"{prefix}: FAILED: {exc}")
                continue
            except Exception as exc:  # a converter's own bug: name the step, keep the others
                manifest.failures[step.name] = f"{step.name}: {first_line(exc)}"
                progress(f"{prefix}: FAILED: {manifest.failures[step.name]}")
                continue
        ctx.done[step.name] = entry
        manifest.artifacts[step.name] = entry
        if step.analysis is not None:
            import_object(step.analysis)(ctx, entry)
        try:
            entry.parity = verify_artifact(out_dir, manifest, step.name, data, options.thresholds)
        except DeployCompareError as exc:
            manifest.failures[step.name] = f"verification could not run: {exc}"
            progress(f"{prefix}: FAILED verification: {exc}")
            continue
        except Exception as exc:  # the runtime's own error on this file: name the step, keep the others
            manifest.failures[step.name] = f"verification could not run: {type(exc).__name__}: {first_line(exc)}"
            progress(f"{prefix}: FAILED verification: {manifest.failures[step.name]}")
            continue
        finally:
            manifest.write(out_dir)
        parity = entry.parity
        summary = (
            f"{entry.size_bytes / 1024:.1f} KiB, {time.perf_counter() - started:.1f}s; "
            f"max|diff| {parity.max_abs_diff:.2e}, top-1 agreement {parity.top1_agreement:.2%}"
            + (f", accuracy {parity.accuracy:.2%}" if parity.accuracy is not None else "")
        )
        if parity.passed:
            progress(f"{prefix}: ok ({summary})")
        elif parity.over_budget:  # a finding: recorded in its parity, the export goes on
            progress(f"{prefix}: OVER ACCURACY BUDGET (kept, served and shipped nowhere): {parity.failures[0]}")
        else:
            manifest.failures[step.name] = "; ".join(parity.failures)
            progress(
                f"{prefix}: PARITY {'FAILED' if options.parity_failures_are_errors else 'WARNING'}: "
                f"{manifest.failures[step.name]}"
            )
    manifest.write(out_dir)
    _raise_for_failures(manifest, options)
    return manifest


def _logical_inputs(bundle) -> list[TensorSpec]:
    """The model's inputs as PyTorch takes them: name, shape (batch None), dtype, layout."""
    x = bundle.example_input
    arrays = x if is_named(x) else {"input": x}
    return [TensorSpec(n, [None, *a.shape[1:]], a.dtype.name, bundle.layout) for n, a in arrays.items()]


def _needs(name: str) -> set[str]:
    """Every step `name` depends on, transitively."""
    by_name = {s.name: s for s in STEPS}
    needed: set[str] = set()
    stack = list(by_name[name].requires)
    while stack:
        current = stack.pop()
        if current not in needed:
            needed.add(current)
            stack.extend(by_name[current].requires)
    return needed


def _raise_for_failures(manifest: Manifest, options: ExportOptions) -> None:
    parity_failed = {
        n: e.parity.failures
        for n, e in manifest.artifacts.items()
        if e.parity and not e.parity.passed and not e.parity.over_budget
    }
    export_failed = {n: why for n, why in manifest.failures.items() if n not in parity_failed}
    if export_failed:
        raise ExportError(f"{len(export_failed)} export step(s) failed: {'; '.join(export_failed.values())}")
    if parity_failed and options.parity_failures_are_errors:
        lines = "; ".join("; ".join(f) for f in parity_failed.values())
        raise VerificationError(f"parity check failed: {lines} (use --warn-only to keep going)")
