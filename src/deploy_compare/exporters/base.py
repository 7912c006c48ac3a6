"""Shared pieces of the exporters: the context every step receives, and helpers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..manifest import ArtifactEntry
from ..models.spec import ModelBundle

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
    with open(log_path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def quiet_tensorflow() -> None:
    """TF's C++ INFO logs are noise for a CLI; must be set before TF is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def onnx2tf_layout(rank: int) -> str:
    """onnx2tf turns channel-first inputs channel-last: NCHW -> NHWC, NCL -> NLC."""
    return {4: "NHWC", 3: "NLC", 2: "NC"}.get(rank, "ANY")
