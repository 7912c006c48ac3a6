"""What a server needs from the manifest: the artifact file and how its input looks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError
from ..manifest import ArtifactEntry, check_artifact_file, load_manifest
from .config import safe_model_name
from .registry import get as get_stack


@dataclass(frozen=True)
class ServedModel:
    """The artifact a server loads, with its input signature from the manifest."""

    kind: str
    model_name: str  # URL-safe; the name clients put in /predictions/<name> or /v1/models/<name>
    artifact_path: Path
    entry: ArtifactEntry
    logical_layout: str
    manifest_dir: Path | None = None  # absolute; for servers that load the manifest themselves

    @property
    def input_shape(self) -> list[int | None]:
        return list(self.entry.inputs[0].shape)

    @property
    def input_dtype(self) -> str:
        return self.entry.inputs[0].dtype

    @property
    def input_layout(self) -> str:
        return self.entry.inputs[0].layout

    @property
    def input_name(self) -> str:
        return self.entry.inputs[0].name


def served_model(
    kind: str, manifest_dir: Path, model_name: str | None = None, artifact: str | None = None
) -> ServedModel:
    """Read the manifest, pick the artifact for `kind` (`artifact`, one it can serve; None: its
    own), check its file against the sha256."""
    manifest_dir = Path(manifest_dir)
    stack = get_stack(kind)
    artifact_name = artifact or stack.artifact
    stack.check_artifact(artifact_name)
    manifest = load_manifest(manifest_dir)
    entry = manifest.artifact(artifact_name)
    path = check_artifact_file(manifest_dir, entry)
    if not entry.inputs:
        raise ArtifactError(f"artifact {entry.name!r} lists no inputs in the manifest")
    for spec in entry.inputs:  # several for a text model (input_ids, attention_mask), in model order
        if any(d is None for d in spec.shape[1:]):
            raise ArtifactError(
                f"artifact {entry.name!r}: only the batch dimension may be dynamic, got {spec.name!r} shape {spec.shape}"
            )
    return ServedModel(
        kind=kind,
        model_name=model_name or safe_model_name(manifest.model.name),
        artifact_path=path,
        entry=entry,
        logical_layout=manifest.model.layout,
        manifest_dir=manifest_dir.resolve(),
    )
