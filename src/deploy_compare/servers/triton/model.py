"""The Triton Python-backend model: ONNX Runtime on the exported ONNX file.

Runs INSIDE Triton's Python backend stub (system libpython3.11 + .venv-triton through
EXECUTION_ENV_PATH), so it imports only numpy, onnxruntime and Triton's own
triton_python_backend_utils; never deploy_compare. Copied into the model repository as
<model>/1/model.py by repository.py.
"""

import json

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        # Stated, not left to the default: the same level as runtimes/onnxruntime.py
        # session_options (which this file cannot import), so in-process and served match.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = int(params.get("ort_threads", "0"))
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(params["onnx_path"], options, providers=["CPUExecutionProvider"])
        # every input of the model (a text model has input_ids and attention_mask)
        self.input_names = [t["name"] for t in config["input"]]
        self.output_name = config["output"][0]["name"]

    def execute(self, requests):
        # Dynamic batching hands over several requests: one ONNX Runtime call for all of
        # them, then each gets its own rows back.
        feeds = {}
        for name in self.input_names:
            arrays = [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            feeds[name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        sizes = [len(pb_utils.get_input_tensor_by_name(r, self.input_names[0]).as_numpy()) for r in requests]
        out = self.session.run([self.output_name], feeds)[0].astype(np.float32, copy=False)
        responses = []
        start = 0
        for n in sizes:
            tensor = pb_utils.Tensor(self.output_name, np.ascontiguousarray(out[start : start + n]))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            start += n
        return responses

    def finalize(self):
        self.session = None
