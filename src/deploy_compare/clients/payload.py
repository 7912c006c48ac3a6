"""Request bodies, built and JSON-encoded ONCE before timing, so encoding is never measured.

Inputs come from eval.npz in the model's logical layout (e.g. NCHW float32); each body is
converted to the layout and dtype of the artifact the server serves (manifest TensorSpec),
and remembers the reference top-1 so responses can be checked during the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ManifestError
from ..evaldata import EvalData
from ..manifest import Manifest, TensorSpec, to_artifact_layout
from .config import Endpoint
from .protocols import RequestSpec, adapter_for


@dataclass(frozen=True)
class Payloads:
    """Pre-built requests; the loops cycle through them in order."""

    requests: tuple[RequestSpec, ...]
    batch_size: int
    expected_top1: np.ndarray | None  # (len(requests), batch_size) int64; None: no check
    encoding: str = "json"  # how the bodies are encoded (the adapter's; protocols.ENCODINGS)

    def __post_init__(self) -> None:
        if not self.requests:
            raise ConfigError("Payloads.requests must not be empty")
        if self.expected_top1 is not None and self.expected_top1.shape != (len(self.requests), self.batch_size):
            raise ConfigError(
                f"Payloads.expected_top1 must have shape {(len(self.requests), self.batch_size)}, "
                f"got {self.expected_top1.shape}"
            )

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def body_bytes(self) -> int:
        return int(np.mean([len(r.body) for r in self.requests]))


def build_payloads(
    endpoint: Endpoint,
    x: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    logical_layout: str = "NCHW",
    input_spec: TensorSpec | None = None,
    batch_size: int = 1,
    max_payloads: int | None = None,
) -> Payloads:
    """Bodies for `endpoint` from samples `x` (logical layout) and reference logits/labels.

    `input_spec` is the served artifact's input TensorSpec: its layout and dtype are
    applied; without it the samples are sent as given.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    x = np.asarray(x)
    n = (len(x) // batch_size) * batch_size
    if n == 0:
        raise ConfigError(f"need at least batch_size={batch_size} samples, got {len(x)}")
    if max_payloads is not None:
        n = min(n, max_payloads * batch_size)
    x = x[:n]
    if input_spec is not None:
        x = to_artifact_layout(x, logical_layout, input_spec.layout)
        x = x.astype(np.dtype(input_spec.dtype), copy=False)
    adapter = adapter_for(endpoint)
    requests = tuple(adapter.build_request(x[i : i + batch_size]) for i in range(0, n, batch_size))
    expected = None
    if reference is not None:
        ref = np.asarray(reference)[:n]
        top1 = ref.argmax(axis=-1) if ref.ndim > 1 else ref
        expected = top1.astype(np.int64).reshape(len(requests), batch_size)
    return Payloads(requests=requests, batch_size=batch_size, expected_top1=expected, encoding=adapter.encoding)


def payloads_from_export(
    endpoint: Endpoint,
    export_dir: Path,
    manifest: Manifest,
    *,
    artifact: str,
    batch_size: int = 1,
    max_payloads: int | None = 256,
) -> Payloads:
    """Bodies from an export directory's eval.npz, in the layout/dtype of `artifact`, the
    manifest artifact the endpoint's server serves (its stack descriptor says which)."""
    name = artifact
    entry = manifest.artifact(name)
    if not entry.inputs:
        raise ManifestError(f"artifact {name!r} lists no inputs in the manifest")
    data = EvalData.load(export_dir)
    return build_payloads(
        endpoint,
        data.x,
        data.reference,
        logical_layout=manifest.model.layout,
        input_spec=entry.inputs[0],
        batch_size=batch_size,
        max_payloads=max_payloads,
    )
