"""TFLite through ai-edge-litert (the maintained runtime), falling back to tflite-runtime.

XNNPACK is the default delegate of both for float and int8 models (op resolver AUTO); we
keep it on by not overriding the resolver. How many ops it took is read from the
interpreter's node list (tflite_invoke.kernel_coverage) and recorded with each row.

Tensors are allocated at load, as benchmark_model's init does, so the delegate is applied
there: a model XNNPACK accepts but then fails to prepare ("failed to create XNNPACK
runtime: Node number 39 (TfLiteXNNPackDelegate) failed to prepare") is reopened on TFLite's
built-in kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES), and the row's notes say which
delegate node and which ops it held, instead of the artifact being lost.

A pure module (stdlib + numpy + the other pure modules, Python 3.9 syntax): the edge
runner is assembled from it (edge/assemble.py), so a device loads and runs its models here.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, RuntimeUnavailable, first_line
from ..tflite_invoke import DELEGATE_OP, BatchInvoker, KernelCoverage, kernel_coverage, nodes_behind
from .base import Runtime, engine_label

#: (module holding Interpreter, PyPI package), in order of preference
ENGINES = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"))


def load_interpreter_class():
    """(Interpreter class, package name) of the first TFLite runtime installed."""
    for module_name, package in ENGINES:
        try:
            return importlib.import_module(module_name).Interpreter, package
        except ImportError:
            continue
    raise RuntimeUnavailable(
        "TFLite: neither ai-edge-litert nor tflite-runtime is installed (python3 -m pip install ai-edge-litert)"
    )


def xnnpack_refusal(message: str) -> int | None:
    """The delegate node number when `message` is XNNPACK failing to prepare; None otherwise."""
    match = re.search(r"Node number (\d+) \(TfLiteXNNPackDelegate\) failed to prepare", message)
    return int(match.group(1)) if match else None


def delegate_node_ops(interpreter: Any, node: int) -> list[str]:
    """The ops the delegate node `node` took ("CONV_2D x12"), from the interpreter's node list."""
    try:
        ops = interpreter._get_ops_details()
    except Exception:  # a private API: an older or newer runtime may not have it
        return []
    by_index = {int(op["index"]): op for op in ops}
    delegate = by_index.get(node)
    if delegate is None or delegate.get("op_name") != DELEGATE_OP:
        return []
    coverage = nodes_behind(ops, delegate)
    names = [str(by_index[i]["op_name"]) for i in sorted(coverage)]
    return [f"{name} x{names.count(name)}" for name in sorted(set(names))]


_PROBE = (
    "import importlib, sys\n"
    "module = importlib.import_module(sys.argv[1])\n"
    "resolver = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES\n"
    "module.Interpreter(model_path=sys.argv[2], experimental_op_resolver_type=resolver).allocate_tensors()\n"
)


def builtin_kernels_crash(path: Path, interpreter_class: Any) -> str | None:
    """How allocating `path` on TFLite's built-in kernels fails, tried in a child process
    (a kernel may abort the whole process); None when it allocates."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, interpreter_class.__module__, str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return "did not allocate it within 300 s"
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        return f"abort the process allocating it (signal {-proc.returncode})"
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {proc.returncode}"
    return f"fail allocating it ({last})"


class TFLiteRuntime(Runtime):
    name = "tflite"
    package = "ai-edge-litert"
    engine_module = "ai_edge_litert.interpreter"
    #: True once XNNPACK refused the model: it then runs on TFLite's built-in kernels
    _builtin_kernels = False

    @classmethod
    def import_engine(cls) -> str:
        _, package = load_interpreter_class()
        return engine_label(package)

    def _load(self) -> None:
        self._interpreter_class, self.package = load_interpreter_class()
        self._interpreter = self._open()
        self._invoke: BatchInvoker | None = None
        try:
            self._interpreter.allocate_tensors()
        except RuntimeError as exc:
            self._fall_back_to_builtin_kernels(exc)
        self._invoke = BatchInvoker(self._interpreter, self.input_names if self.logical_inputs else None)

    def _fall_back_to_builtin_kernels(self, exc: RuntimeError) -> None:
        """Reopen the model without XNNPACK when XNNPACK failed to prepare it; re-raise anything else."""
        refused = xnnpack_refusal(str(exc))
        if refused is None or self._builtin_kernels:
            raise ArtifactError(f"{self.path}: TFLite cannot allocate this model ({first_line(exc)})") from exc
        ops = delegate_node_ops(self._interpreter, refused)
        held = ", ".join(ops) if ops else "ops not listed"
        # TFLite's built-in kernels abort the process (a CHECK in a kernel's Prepare) on some
        # files XNNPACK refuses (ResNet-18's full int8 from onnx2tf did, before savedmodel.py
        # zero-padded its MaxPool: ADD's output multiplier over 1): try them in a child first
        crashed = builtin_kernels_crash(self.path, self._interpreter_class)
        if crashed:
            raise ArtifactError(
                f"{self.path}: XNNPACK refused this model (delegate node {refused}, holding {held}, failed to "
                f"prepare) and TFLite's built-in kernels {crashed}: it runs on neither"
            ) from exc
        self._builtin_kernels = True
        self._interpreter = self._open()
        self._interpreter.allocate_tensors()
        self.notes.append(
            f"XNNPACK refused this model (delegate node {refused}, holding {held}, failed to prepare): "
            "runs on TFLite's built-in kernels"
        )
        self._invoke = BatchInvoker(self._interpreter, self.input_names if self.logical_inputs else None)

    def _open(self) -> Any:
        kwargs: dict[str, Any] = {"model_path": str(self.path), "num_threads": self.threads or None}
        if self._builtin_kernels:
            module = importlib.import_module(self._interpreter_class.__module__)
            kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            return self._interpreter_class(**kwargs)
        except Exception as exc:
            raise ArtifactError(f"{self.path}: not a loadable TFLite model ({first_line(exc)})") from exc

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._invoke is None:
            raise RuntimeError(f"{self.path}: TFLite runtime used after close()")
        try:
            return self._invoke(x)
        except RuntimeError as exc:  # XNNPACK may refuse only at another batch size's re-plan
            self._fall_back_to_builtin_kernels(exc)
            assert self._invoke is not None
            return self._invoke(x)

    def kernel_coverage(self) -> KernelCoverage | None:
        """The XNNPACK delegate's share of the ops (after the first inference applied it)."""
        return kernel_coverage(self._interpreter)

    def close(self) -> None:
        self._interpreter = None
        self._invoke = None
