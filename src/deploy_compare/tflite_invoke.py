"""One TFLite interpreter run on batches of any size, and what the interpreter says about its kernels.

A pure module (stdlib + numpy, Python 3.9 syntax): runtimes/tflite.py uses it in-process,
and edge-bundle assembles it into the standalone run_edge.py, so the device runs a model
exactly as the local benchmark does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

#: the op name LiteRT gives a node that stands for a delegated partition of the graph
DELEGATE_OP = "DELEGATE"


class BatchInvoker:
    """Set the input, invoke, copy the output; re-plan only when the batch size changes.

    A model exported with a fixed batch of 1 (litert-torch traces one sample) cannot be
    resized: a larger batch runs as one invoke per sample, outputs concatenated.

    A model with several inputs takes a tuple of arrays, ordered like `input_names` (the
    manifest's artifact input names, which it matches to the interpreter's tensors).
    """

    def __init__(self, interpreter: Any, input_names: Optional[List[str]] = None) -> None:
        self.interpreter = interpreter
        details = interpreter.get_input_details()
        if input_names:
            by_name = {d["name"]: d for d in details}
            details = [by_name[n] for n in input_names]
        detail = details[0]
        self.input_index = detail["index"]
        self.input_indices = [int(d["index"]) for d in details]
        self.output_index = interpreter.get_output_details()[0]["index"]
        signature = detail.get("shape_signature")
        self.fixed_batch_of_one = signature is not None and len(signature) > 0 and int(signature[0]) == 1
        self._batch: Optional[int] = None

    def __call__(self, x: Any) -> np.ndarray:
        arrays = x if isinstance(x, tuple) else (x,)
        n = arrays[0].shape[0]
        if self.fixed_batch_of_one and n != 1:
            return np.concatenate([self._invoke(tuple(a[i : i + 1] for a in arrays)) for i in range(n)])
        return self._invoke(arrays)

    def _invoke(self, arrays: Tuple[np.ndarray, ...]) -> np.ndarray:
        n = arrays[0].shape[0]
        if self._batch != n:
            # The batch dimension is dynamic (-1): resizing and re-allocating costs a
            # planning pass, so it happens only when the batch size changes.
            for index, a in zip(self.input_indices, arrays):
                self.interpreter.resize_tensor_input(index, list(a.shape))
            self.interpreter.allocate_tensors()
            self._batch = n
        for index, a in zip(self.input_indices, arrays):
            self.interpreter.set_tensor(index, a)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).copy()


@dataclass(frozen=True)
class KernelCoverage:
    """How many of the model's ops the XNNPACK delegate took; the rest run on TFLite's built-in kernels."""

    delegated_ops: int
    total_ops: int
    fallback_ops: List[str]  # op names left to the built-in kernels, one entry per op

    @property
    def complete(self) -> bool:
        return self.delegated_ops == self.total_ops


def kernel_coverage(interpreter: Any) -> Optional[KernelCoverage]:
    """Read the coverage from the interpreter's own node list (call after allocate_tensors).

    After the delegate is applied the node list holds every op of the model plus one
    DELEGATE node per partition it took; a partition's ops are those that compute its
    outputs from its inputs, found by walking back from the outputs to the inputs.
    None when the runtime does not expose its nodes.
    """
    try:
        ops: List[Dict[str, Any]] = interpreter._get_ops_details()
    except Exception:  # a private API: an older or newer runtime may not have it
        return None
    originals = [op for op in ops if op["op_name"] != DELEGATE_OP]
    covered: Set[int] = set()
    for node in ops:
        if node["op_name"] == DELEGATE_OP:
            covered |= nodes_behind(ops, node, covered)
    fallback = [str(op["op_name"]) for op in originals if int(op["index"]) not in covered]
    return KernelCoverage(len(covered), len(originals), fallback)


def nodes_behind(ops: List[Dict[str, Any]], delegate: Dict[str, Any], skip: Optional[Set[int]] = None) -> Set[int]:
    """Indices of the original ops a DELEGATE node stands for: those that compute its outputs
    from its inputs, found by walking back from the outputs to the inputs (`skip`: already
    claimed by another partition)."""
    originals = [op for op in ops if op["op_name"] != DELEGATE_OP]
    producer: Dict[int, int] = {}
    for op in originals:
        for tensor in op["outputs"]:
            producer[int(tensor)] = int(op["index"])
    by_index = {int(op["index"]): op for op in originals}
    skip = skip or set()
    found: Set[int] = set()
    boundary = {int(t) for t in delegate["inputs"]}
    stack = [int(t) for t in delegate["outputs"]]
    while stack:
        tensor = stack.pop()
        if tensor in boundary or tensor not in producer or producer[tensor] in found or producer[tensor] in skip:
            continue
        found.add(producer[tensor])
        stack.extend(int(t) for t in by_index[producer[tensor]]["inputs"] if int(t) >= 0)
    return found
