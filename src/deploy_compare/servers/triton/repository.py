"""The Triton model repository for one served model: config.pbtxt and the model files.

<repo>/<model>/config.pbtxt
<repo>/<model>/1/model.py + the ONNX file's path as a parameter   (native: Python backend)
<repo>/<model>/1/model.onnx                                        (Docker: onnxruntime backend)
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ...errors import ArtifactError
from ..model_spec import ServedModel
from .config import TritonConfig

#: manifest dtype -> Triton data_type
DATA_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "float64": "TYPE_FP64",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
}


def _tensor(name: str, dtype: str, dims: list[int | None]) -> str:
    try:
        data_type = DATA_TYPES[dtype]
    except KeyError:
        raise ArtifactError(f"Triton: no data type for {dtype!r} (tensor {name!r})") from None
    shape = ", ".join(str(-1 if d is None else d) for d in dims)
    return f'  {{ name: "{name}" data_type: {data_type} dims: [ {shape} ] }}'


def config_pbtxt(model: ServedModel, config: TritonConfig, backend: str, parameters: dict[str, str]) -> str:
    """config.pbtxt text; dims leave out the batch dimension (max_batch_size > 0)."""
    out = model.entry.outputs[0]
    # every input (a text model's input_ids and attention_mask), in the model's order
    tensors = ",\n".join(_tensor(inp.name, inp.dtype, list(inp.shape[1:])) for inp in model.entry.inputs)
    lines = [
        f'name: "{model.model_name}"',
        f'backend: "{backend}"',
        f"max_batch_size: {config.max_batch_size}",
        "input [",
        tensors,
        "]",
        "output [",
        _tensor(out.name, out.dtype, list(out.shape[1:])),
        "]",
        f"instance_group [ {{ count: {config.instances} kind: KIND_CPU }} ]",
    ]
    if config.dynamic_batching:
        preferred = ", ".join(str(s) for s in config.preferred_batch_sizes)
        lines.append("dynamic_batching {")
        if preferred:
            lines.append(f"  preferred_batch_size: [ {preferred} ]")
        lines.append(f"  max_queue_delay_microseconds: {config.max_queue_delay_us}")
        lines.append("}")
    for key, value in parameters.items():
        lines.append(f'parameters: {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
    return "\n".join(lines) + "\n"


def python_backend_repository(repo: Path, model: ServedModel, config: TritonConfig, env_path: Path) -> Path:
    """Native: model.py (ONNX Runtime) in the Python backend, its environment via EXECUTION_ENV_PATH."""
    version = repo / model.model_name / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("model.py"), version / "model.py")
    params = {
        "EXECUTION_ENV_PATH": str(env_path),
        "onnx_path": str(model.artifact_path),
        "ort_threads": str(config.threads or 0),
    }
    (repo / model.model_name / "config.pbtxt").write_text(
        config_pbtxt(model, config, "python", params), encoding="utf-8"
    )
    return repo


def onnxruntime_repository(repo: Path, model: ServedModel, config: TritonConfig) -> Path:
    """Docker: the ONNX file itself, served by Triton's onnxruntime backend."""
    version = repo / model.model_name / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model.artifact_path, version / "model.onnx")
    params: dict[str, str] = {}
    text = config_pbtxt(model, config, "onnxruntime", params)
    if config.threads:
        text += (
            f'parameters: {{ key: "intra_op_thread_count" value: {{ string_value: "{config.threads}" }} }}\n'
            'parameters: { key: "inter_op_thread_count" value: { string_value: "1" } }\n'
        )
    (repo / model.model_name / "config.pbtxt").write_text(text, encoding="utf-8")
    return repo
