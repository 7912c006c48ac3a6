"""The eval data: held-out inputs, their labels and the PyTorch model's outputs, in one .npz.

The one reader and writer of eval.npz (the export directory's) and of the edge bundle's
sample_inputs.npz (the same arrays, fewer samples): the exporter writes it, the verifier,
the local benchmark, the load client's payloads and the edge bundle read it.

A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax): edge-bundle
assembles it into the standalone run_edge.py, so the device reads its samples with this code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ArtifactError
from .fileio import atomic_path
from .manifest import EVAL_DATA_NAME


@dataclass(frozen=True)
class EvalData:
    """Held-out inputs (logical layout, float32), labels (or None) and PyTorch's outputs."""

    x: np.ndarray
    y: np.ndarray | None
    reference: np.ndarray

    def save(self, directory: str | Path, name: str = EVAL_DATA_NAME) -> Path:
        path = Path(directory) / name
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                if self.y is None:
                    np.savez(fh, x=self.x, reference=self.reference)
                else:
                    np.savez(fh, x=self.x, reference=self.reference, y=self.y)
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str = EVAL_DATA_NAME) -> EvalData:
        """Read DIRECTORY/NAME (raises ArtifactError naming the file when missing or unreadable)."""
        path = Path(directory) / name
        try:
            with np.load(path) as data:
                return cls(
                    x=np.ascontiguousarray(data["x"], dtype=np.float32),
                    y=data["y"] if "y" in data.files else None,
                    reference=data["reference"],
                )
        except FileNotFoundError:
            raise ArtifactError(f"{path}: missing (held-out inputs; re-run `deploy-compare export`)") from None
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{path}: unreadable eval data ({exc})") from None

    def head(self, n: int) -> EvalData:
        """The first n samples (the edge bundle ships a few)."""
        return EvalData(self.x[:n], None if self.y is None else self.y[:n], self.reference[:n])
