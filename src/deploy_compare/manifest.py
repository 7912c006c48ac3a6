"""manifest.json: what was exported, how to feed it, and how faithful it is.

Later stages (runtimes, servers, clients, edge bundle) read layouts, dtypes and
quantization parameters from here and never guess them.

Layout rule: callers always hold inputs in the model's LOGICAL layout
(`ModelInfo.layout`, the PyTorch layout, e.g. NCHW) as float32. Each artifact's
`inputs[i].layout` says what that artifact itself wants (e.g. NHWC for TensorFlow and
TFLite via onnx2tf); `to_artifact_layout` converts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArtifactError, ManifestError
from .fileio import sha256_of, write_json_atomic

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
EVAL_DATA_NAME = "eval.npz"  # x (logical layout, float32), y (labels), reference (PyTorch logits)

#: the SavedModel's serving signature (tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY): the
#: exporter writes it, TF Serving's requests name it
SAVEDMODEL_SIGNATURE = "serving_default"
FORMATS = ("torchscript", "aoti", "onnx", "savedmodel", "tflite")
LAYOUTS = ("NCHW", "NHWC", "NC", "NCL", "NLC", "ANY")


@dataclass
class QuantParams:
    """Affine int8 quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass
class TensorSpec:
    name: str
    shape: list[int | None]  # None marks a dynamic dimension (the batch)
    dtype: str  # numpy dtype name: float32, float16, int8, uint8, ...
    layout: str = "ANY"
    quantization: QuantParams | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ManifestError(f"TensorSpec.layout must be one of {LAYOUTS}, got {self.layout!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        q = d.get("quantization")
        return cls(
            name=d["name"],
            shape=list(d["shape"]),
            dtype=d["dtype"],
            layout=d.get("layout", "ANY"),
            quantization=QuantParams(**q) if q else None,
        )


@dataclass
class Parity:
    """How closely an artifact reproduces the PyTorch model on the held-out set."""

    samples: int
    max_abs_diff: float
    top1_agreement: float  # share in [0, 1]
    accuracy: float | None  # share in [0, 1]; None without labels
    reference_accuracy: float | None  # PyTorch model's accuracy on the same samples
    passed: bool
    failures: list[str] = field(default_factory=list)  # human-readable, empty when passed
    #: quantized variants with labels: PyTorch's accuracy minus this file's, in points, on the
    #: same samples, and its 95% interval (confidence.py: Newcombe, from the discordant pairs)
    accuracy_drop_points: float | None = None
    accuracy_drop_interval_points: list[float] | None = None
    #: a quantized variant that loses more than its accuracy budget: a finding, not a failure.
    #: passed is False (served, ranked and shipped nowhere), but the export and the run go on
    over_budget: bool = False


@dataclass
class ArtifactEntry:
    name: str  # unique key, e.g. "tflite_int8"
    format: str  # one of FORMATS
    variant: str  # fp32, fp16, dynamic_int8, int8
    path: str  # relative to the manifest's directory
    size_bytes: int
    sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    export_seconds: float
    tools: dict[str, str]  # package -> version of what made it
    details: dict[str, Any] = field(default_factory=dict)  # opset, signature, converter flags
    parity: Parity | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ManifestError(f"artifact {self.name!r}: format must be one of {FORMATS}, got {self.format!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactEntry:
        d = dict(d)
        d["inputs"] = [TensorSpec.from_dict(t) for t in d["inputs"]]
        d["outputs"] = [TensorSpec.from_dict(t) for t in d["outputs"]]
        d["parity"] = Parity(**d["parity"]) if d.get("parity") else None
        return cls(**d)


@dataclass
class ModelInfo:
    name: str
    source: str  # "builtin:digits_cnn" or the --model factory path
    input_shape: list[int]  # one sample, logical layout, no batch dimension
    layout: str  # logical layout of a batch, e.g. NCHW
    num_classes: int
    content_hash: str  # hash of the model's weights (state_dict)
    eval_samples: int
    reference_accuracy: float | None  # None when the factory gave no labels
    #: a model with several inputs (a text model's input_ids, attention_mask): each one's logical
    #: spec, in forward() order; every artifact lists its own inputs in this order. Empty: one input,
    #: float32 of `input_shape`.
    inputs: list[TensorSpec] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        d = dict(d)
        d["inputs"] = [TensorSpec.from_dict(t) for t in d.get("inputs", [])]
        return cls(**d)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The named inputs in order; () for a single-input model."""
        return tuple(t.name for t in self.inputs)


@dataclass
class Manifest:
    model: ModelInfo
    artifacts: dict[str, ArtifactEntry]
    created_utc: str
    tools: dict[str, str]
    #: artifact name -> why it is absent or unfaithful (export error, failed parity, skipped step)
    failures: dict[str, str] = field(default_factory=dict)
    #: artifact name -> why its route does not apply to this model (torch.export cannot capture
    #: it): not a failure, a SKIPPED row with the reason
    skipped: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        return cls(
            model=ModelInfo.from_dict(d["model"]),
            artifacts={k: ArtifactEntry.from_dict(v) for k, v in d["artifacts"].items()},
            created_utc=d["created_utc"],
            tools=dict(d.get("tools", {})),
            failures=dict(d.get("failures", {})),
            skipped=dict(d.get("skipped", {})),
            schema_version=version,
        )

    def write(self, directory: Path) -> Path:
        path = Path(directory) / MANIFEST_NAME
        write_json_atomic(path, self.to_dict())
        return path

    def artifact(self, name: str) -> ArtifactEntry:
        try:
            return self.artifacts[name]
        except KeyError:
            raise ManifestError(
                f"no artifact {name!r} in the manifest; have: {', '.join(self.artifacts)} "
                f"(`deploy-compare export --model {self.model.source} --out <this directory>` adds it, "
                "reusing the files there)"
            ) from None


def load_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: not found (run `deploy-compare export` first)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    try:
        return Manifest.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: malformed ({exc})") from None


def artifact_path(directory: Path, entry: ArtifactEntry) -> Path:
    return Path(directory) / entry.path


def check_artifact_file(directory: Path, entry: ArtifactEntry) -> Path:
    """The artifact's path, after checking it exists and matches the recorded sha256."""
    path = artifact_path(directory, entry)
    if not path.exists():
        raise ArtifactError(f"{path}: artifact {entry.name!r} is missing")
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ArtifactError(
            f"{path}: artifact {entry.name!r} is corrupt or changed (sha256 {actual[:12]}..., "
            f"manifest says {entry.sha256[:12]}...)"
        )
    return path


_PERMUTATIONS = {
    ("NCHW", "NHWC"): (0, 2, 3, 1),
    ("NHWC", "NCHW"): (0, 3, 1, 2),
    ("NCL", "NLC"): (0, 2, 1),
    ("NLC", "NCL"): (0, 2, 1),
}


def layout_permutation(src: str, dst: str) -> tuple[int, ...] | None:
    """Axis permutation taking a batch from layout `src` to `dst`; None when no change."""
    if src == dst or "ANY" in (src, dst) or src == "NC" or dst == "NC":
        return None
    try:
        return _PERMUTATIONS[(src, dst)]
    except KeyError:
        raise ManifestError(f"no conversion from layout {src} to {dst}") from None


def to_artifact_layout(batch: Any, logical: str, artifact: str) -> Any:
    """Transpose a numpy batch from the logical layout to the artifact's layout."""
    perm = layout_permutation(logical, artifact)
    return batch if perm is None else batch.transpose(perm)
