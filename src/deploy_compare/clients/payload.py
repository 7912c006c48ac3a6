"""Request bodies, built and JSON-encoded ONCE before timing, so encoding is never measured.

Inputs come from eval.npz in the model's logical layout (e.g. NCHW float32); each body is
converted to the layout and dtype of the artifact the server serves (manifest TensorSpec),
and remembers the reference top-1 so responses can be checked during the run.

A model with several inputs (manifest `model.inputs`: a text model's input_ids and
attention_mask) is the one place named inputs are mapped for the wire: each logical input
becomes the served artifact's input of the same position, under the ARTIFACT's name and
dtype, and the protocol adapters receive that dict (v2: one named tensor each; the row
format: one {name: row} object per instance).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..batches import Batch, batch_len, is_named, take
from ..errors import ConfigError, ManifestError
from ..evaldata import EvalData
from ..manifest import Manifest, TensorSpec, to_artifact_layout
from .config import Endpoint
from .encodings import RequestSpec, encoding_for


@dataclass(frozen=True)
class Payloads:
    """Pre-built requests; the loops cycle through them in order."""

    requests: tuple[RequestSpec, ...]
    batch_size: int
    expected_top1: np.ndarray | None  # (len(requests), batch_size) int64; None: no check
    encoding: str = "json"  # how the bodies are encoded (the adapter's; encodings.ENCODINGS)

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


def wire_inputs(x: Batch, logical: list[TensorSpec], served: list[TensorSpec]) -> dict[str, np.ndarray]:
    """Named logical inputs -> {served artifact's input name: array in its layout and dtype}."""
    if not is_named(x):
        raise ConfigError("named inputs expected (the manifest lists several model inputs)")
    if len(served) != len(logical):
        raise ManifestError(
            f"the served artifact has {len(served)} input(s), the model {len(logical)} "
            f"({', '.join(t.name for t in logical)})"
        )
    wire = {}
    for spec_in, spec_out in zip(logical, served):
        array = to_artifact_layout(x[spec_in.name], spec_in.layout, spec_out.layout)
        wire[spec_out.name] = np.ascontiguousarray(array.astype(np.dtype(spec_out.dtype), copy=False))
    return wire


def build_payloads(
    endpoint: Endpoint,
    x: Batch,
    reference: np.ndarray | None = None,
    *,
    logical_layout: str = "NCHW",
    input_spec: TensorSpec | None = None,
    batch_size: int = 1,
    max_payloads: int | None = None,
    named_inputs: tuple[list[TensorSpec], list[TensorSpec]] | None = None,
) -> Payloads:
    """Bodies for `endpoint` from samples `x` (logical layout) and reference logits/labels.

    `input_spec` is the served artifact's input TensorSpec: its layout and dtype are
    applied; without it the samples are sent as given. A model with several inputs passes
    `x` as a dict and `named_inputs` = (the model's logical input specs, the served
    artifact's input specs in the same order); see wire_inputs.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if not is_named(x):
        x = np.asarray(x)
    count = batch_len(x)
    n = (count // batch_size) * batch_size
    if n == 0:
        raise ConfigError(f"need at least batch_size={batch_size} samples, got {count}")
    if max_payloads is not None:
        n = min(n, max_payloads * batch_size)
    x = take(x, slice(0, n))
    if named_inputs is not None:
        x = wire_inputs(x, *named_inputs)
    elif input_spec is not None and not is_named(x):
        x = to_artifact_layout(x, logical_layout, input_spec.layout)
        x = x.astype(np.dtype(input_spec.dtype), copy=False)  # type: ignore[union-attr]
    adapter = encoding_for(endpoint)
    requests = tuple(adapter.build_request(take(x, slice(i, i + batch_size))) for i in range(0, n, batch_size))
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
        named_inputs=(manifest.model.inputs, entry.inputs) if manifest.model.inputs else None,
    )
