"""Shared pieces of the exporters: the context every step receives, and helpers."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..batches import Batch, is_named
from ..manifest import ArtifactEntry, TensorSpec
from ..models.spec import ModelBundle
from ..native_logs import repoint_stream_handlers

DEFAULT_OPSET = 18
LOG_TAIL_LINES = 15


@dataclass
class ExportContext:
    bundle: ModelBundle
    out_dir: Path
    progress: Callable[[str], None] = print
    opset: int = DEFAULT_OPSET
    #: artifacts exported so far (later steps read earlier ones, e.g. SavedModel <- ONNX)
    done: dict[str, ArtifactEntry] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        path = self.out_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path_of(self, artifact: str) -> Path:
        return self.out_dir / self.done[artifact].path


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def captured_output(log_path: Path) -> Iterator[None]:
    """Send the chatty converters' Python-level stdout/stderr to a log file.

    torch.onnx and onnx2tf print progress banners; they belong in logs/, not in our
    progress display. The file is kept so a failure can quote its tail.
    """
    outer = sys.stderr
    with open(log_path, "a", encoding="utf-8") as log:
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            # absl, TF and torchao make their logging handlers on import with the sys.stderr
            # of that moment, this log: hand them the outer stream before the log closes.
            repoint_stream_handlers(log, outer)


def quiet_tensorflow() -> None:
    """TF's C++ INFO logs are noise for a CLI; must be set before TF is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def onnx2tf_layout(rank: int) -> str:
    """onnx2tf turns channel-first inputs channel-last: NCHW -> NHWC, NCL -> NLC."""
    return {4: "NHWC", 3: "NLC", 2: "NC"}.get(rank, "ANY")


def example_with_batch_of_two(example: Batch) -> Batch:
    """The example batch with at least two samples: torch.export specialises a dimension of
    size 1 to a constant, a batch of >= 2 keeps it dynamic."""
    import numpy as np

    if is_named(example):
        return {k: example_with_batch_of_two(v) for k, v in example.items()}  # type: ignore[union-attr,misc]
    return example if example.shape[0] >= 2 else np.concatenate([example, example])  # type: ignore[union-attr]


def torch_args(batch: Batch) -> tuple:
    """forward()'s positional arguments for a batch: one tensor, or one per named input in order."""
    import numpy as np
    import torch

    arrays = list(batch.values()) if is_named(batch) else [batch]  # type: ignore[union-attr]
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


def in_logical_order(specs: list[TensorSpec], names: tuple[str, ...], artifact: str) -> list[TensorSpec]:
    """An artifact's input specs listed in the model's input order (the manifest's convention:
    artifact inputs[i] carries logical input i), matched by name: exact, then the name inside a
    converter's decoration ('serving_default_input_ids:0'), longest name first; positional when
    the converter renamed them all (litert-torch: args_0, args_1)."""
    if not names or len(specs) < 2:
        return specs
    if len(specs) != len(names):
        from ..errors import ExportError

        raise ExportError(f"{artifact}: the file has {len(specs)} inputs, the model {len(names)} ({', '.join(names)})")
    by_name: dict[str, TensorSpec] = {}
    left = list(specs)
    for name in sorted(names, key=len, reverse=True):
        match = next((s for s in left if s.name == name), None) or next((s for s in left if name in s.name), None)
        if match is None:
            return specs  # renamed: the converter keeps forward()'s order
        by_name[name] = match
        left.remove(match)
    return [by_name[n] for n in names]
