"""One TFLite interpreter run on batches of any size, and what the interpreter says about its kernels.

A pure module (stdlib + numpy, Python 3.9 syntax): runtimes/tflite.py uses it in-process,
and edge-bundle assembles it into the standalone run_edge.py, so the device runs a model
exactly as the local benchmark does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set

import numpy as np

#: the op name LiteRT gives a node that stands for a delegated partition of the graph
DELEGATE_OP = "DELEGATE"


class BatchInvoker:
    """Set the input, invoke, copy the output; re-plan only when the batch size changes.

    A model exported with a fixed batch of 1 (litert-torch traces one sample) cannot be
    resized: a larger batch runs as one invoke per sample, outputs concatenated.
    """

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        detail = interpreter.get_input_details()[0]
        self.input_index = detail["index"]
        self.output_index = interpreter.get_output_details()[0]["index"]
        signature = detail.get("shape_signature")
        self.fixed_batch_of_one = signature is not None and len(signature) > 0 and int(signature[0]) == 1
        self._batch: Optional[int] = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.fixed_batch_of_one and x.shape[0] != 1:
            return np.concatenate([self._invoke(x[i : i + 1]) for i in range(x.shape[0])])
        return self._invoke(x)

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        if self._batch != x.shape[0]:
            # The batch dimension is dynamic (-1): resizing and re-allocating costs a
            # planning pass, so it happens only when the batch size changes.
            self.interpreter.resize_tensor_input(self.input_index, list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self.interpreter.set_tensor(self.input_index, x)
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
    producer: Dict[int, int] = {}
    for op in originals:
        for tensor in op["outputs"]:
            producer[int(tensor)] = int(op["index"])
    by_index = {int(op["index"]): op for op in originals}
    covered: Set[int] = set()
    for node in ops:
        if node["op_name"] != DELEGATE_OP:
            continue
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            tensor = stack.pop()
            if tensor in boundary or tensor not in producer or producer[tensor] in covered:
                continue
            covered.add(producer[tensor])
            stack.extend(int(t) for t in by_index[producer[tensor]]["inputs"] if int(t) >= 0)
    fallback = [str(op["op_name"]) for op in originals if int(op["index"]) not in covered]
    return KernelCoverage(len(covered), len(originals), fallback)
