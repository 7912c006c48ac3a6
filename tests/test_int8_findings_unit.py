"""int8 over its accuracy budget is a finding with a paired interval; XNNPACK refusals are named."""

from __future__ import annotations

import numpy as np
import pytest

from deploy_compare.confidence import paired_difference
from deploy_compare.errors import ArtifactError
from deploy_compare.evaldata import EvalData
from deploy_compare.exporters.quant_debug import rank_layers
from deploy_compare.exporters.verify import ParityThresholds, parity_of
from deploy_compare.manifest import ArtifactEntry, TensorSpec
from deploy_compare.runtimes.tflite import xnnpack_refusal
from deploy_compare.tflite_invoke import DELEGATE_OP, kernel_coverage, nodes_behind

pytestmark = pytest.mark.unit


def _right(n: int, wrong: set[int]) -> np.ndarray:
    return np.array([i not in wrong for i in range(n)])


def test_paired_interval_is_symmetric_and_holds_its_estimate():
    ref, int8 = _right(96, {1, 2}), _right(96, {1, 2, 5, 9, 11, 40, 70})
    d = paired_difference(ref, int8)
    assert (d.a_only_right, d.b_only_right, d.samples) == (5, 0, 96)
    assert d.difference_points == pytest.approx(500 / 96, abs=1e-3)
    assert 0 < d.low_points < d.difference_points < d.high_points < 100
    swapped = paired_difference(int8, ref)
    assert swapped.difference_points == -d.difference_points
    assert (swapped.low_points, swapped.high_points) == pytest.approx((-d.high_points, -d.low_points), abs=1e-3)


def test_paired_interval_narrows_with_samples_and_covers_zero_without_discordant_pairs():
    small = paired_difference(_right(96, {3, 4, 5}), _right(96, {3}))
    # the same share of discordant pairs on 10x the samples: a narrower interval
    large = paired_difference(_right(960, set(range(30, 50))), _right(960, set(range(30, 32))))
    assert large.high_points - large.low_points < (small.high_points - small.low_points) / 2
    same = paired_difference(_right(50, {7}), _right(50, {7}))
    assert same.difference_points == 0 and same.low_points < 0 < same.high_points
    with pytest.raises(ValueError):
        paired_difference(np.ones(3, bool), np.ones(4, bool))


def _int8_entry() -> ArtifactEntry:
    spec = TensorSpec("x", [None, 4], "float32", "NC")
    return ArtifactEntry("tflite_int8", "tflite", "int8", "m.tflite", 1, "0" * 64, [spec], [spec], 0.0, {})


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[labels]


def test_int8_over_budget_is_a_finding_with_its_interval():
    labels = np.arange(100) % 4
    int8_labels = labels.copy()
    int8_labels[:6] = (labels[:6] + 1) % 4  # 6 of 100 answers lost: 6 points > the 2-point budget
    data = EvalData(np.zeros((100, 4), np.float32), labels, _one_hot(labels))
    parity = parity_of(_int8_entry(), _one_hot(int8_labels), data, ParityThresholds())
    assert not parity.passed and parity.over_budget
    assert parity.accuracy_drop_points == pytest.approx(6.0)
    low, high = parity.accuracy_drop_interval_points
    assert 0 < low < 6 < high
    assert "95% interval" in parity.failures[0] and "100 samples" in parity.failures[0]
    within = parity_of(_int8_entry(), _one_hot(labels), data, ParityThresholds())
    assert within.passed and not within.over_budget and within.accuracy_drop_points == 0


def test_xnnpack_refusal_names_the_delegate_node():
    message = (
        "failed to create XNNPACK runtime: Node number 39 (TfLiteXNNPackDelegate) failed to prepare.\n"
        "Node number 39 (TfLiteXNNPackDelegate) failed to prepare."
    )
    assert xnnpack_refusal(message) == 39
    assert xnnpack_refusal("Tensor data is null. Run allocate_tensors() first") is None


def _op(index: int, name: str, inputs: list[int], outputs: list[int]) -> dict:
    return {"index": index, "op_name": name, "inputs": inputs, "outputs": outputs}


def test_nodes_behind_a_delegate_are_the_ops_between_its_inputs_and_outputs():
    # 0: CONV 0->1, 1: MEAN 1->2, 2: FC 2->3; the delegate took CONV and MEAN, FC stayed on the CPU
    ops = [
        _op(0, "CONV_2D", [0], [1]),
        _op(1, "MEAN", [1], [2]),
        _op(2, "FULLY_CONNECTED", [2], [3]),
        _op(3, DELEGATE_OP, [0], [2]),
    ]
    assert nodes_behind(ops, ops[3]) == {0, 1}

    class Interpreter:
        def _get_ops_details(self):
            return ops

    coverage = kernel_coverage(Interpreter())
    assert (coverage.delegated_ops, coverage.total_ops, coverage.fallback_ops) == (2, 3, ["FULLY_CONNECTED"])


def test_layers_rank_by_rmse_over_their_quantization_step():
    stats = {
        "conv_a": {"mean_squared_error": 0.01, "max_abs_error": 0.3},
        "conv_b": {"mean_squared_error": 0.04, "max_abs_error": 0.5},
        "mean": {"mean_squared_error": 0.0004, "max_abs_error": 0.01},
        "no_scale": {"mean_squared_error": 1.0, "max_abs_error": 1.0},
    }
    ranked = rank_layers(stats, {"conv_a": 0.1, "conv_b": 0.5, "mean": 0.01, "no_scale": 0.0})
    # conv_a: 0.1/0.1 = 1.0; conv_b: 0.2/0.5 = 0.4; mean: 0.02/0.01 = 2.0; no scale: not ranked
    assert [r["tensor"] for r in ranked] == ["mean", "conv_a", "conv_b"]
    assert ranked[0]["rmse_over_scale"] == pytest.approx(2.0)


def _manifest_with(parities: dict) -> object:
    from deploy_compare.manifest import Manifest, ModelInfo

    model = ModelInfo("m", "builtin:m", [4], "NC", 4, "cafe", 100, 1.0)
    artifacts = {}
    for name, parity in parities.items():
        entry = _int8_entry()
        entry.name, entry.variant = name, ("fp32" if name == "tflite_fp32" else "int8")
        entry.parity = parity
        artifacts[name] = entry
    return Manifest(model, artifacts, "2026-01-01T00:00:00+00:00", {})


def test_an_over_budget_int8_file_does_not_stop_the_export_a_broken_float_file_does():
    from deploy_compare.errors import VerificationError
    from deploy_compare.exporters.pipeline import ExportOptions, _raise_for_failures

    labels = np.arange(100) % 4
    data = EvalData(np.zeros((100, 4), np.float32), labels, _one_hot(labels))
    lossy = labels.copy()
    lossy[:6] = (labels[:6] + 1) % 4
    over = parity_of(_int8_entry(), _one_hot(lossy), data, ParityThresholds())
    _raise_for_failures(_manifest_with({"tflite_int8": over}), ExportOptions())  # a finding: no error
    fp32 = ArtifactEntry("tflite_fp32", "tflite", "fp32", "f.tflite", 1, "0" * 64, [], [], 0.0, {})
    broken = parity_of(fp32, _one_hot(lossy), data, ParityThresholds())
    assert not broken.passed and not broken.over_budget
    with pytest.raises(VerificationError, match="tflite_fp32"):
        _raise_for_failures(_manifest_with({"tflite_int8": over, "tflite_fp32": broken}), ExportOptions())


class _RefusingInterpreter:
    """A stand-in for LiteRT's Interpreter (this test checks the runtime's decision, not LiteRT):
    with the default resolver it fails to prepare as LiteRT 2.x did on ResNet-18's int8 file."""

    opened: list = []

    def __init__(self, model_path, num_threads=None, experimental_op_resolver_type=None):
        self.builtin = experimental_op_resolver_type is not None
        _RefusingInterpreter.opened.append(experimental_op_resolver_type)

    def allocate_tensors(self):
        if not self.builtin:
            raise RuntimeError(
                "failed to create XNNPACK runtime: Node number 2 (TfLiteXNNPackDelegate) failed to prepare."
            )

    def _get_ops_details(self):
        return [_op(0, "CONV_2D", [0], [1]), _op(1, "ADD", [1, 0], [2]), _op(2, DELEGATE_OP, [0], [2])]

    def get_input_details(self):
        return [{"index": 0, "shape_signature": np.array([-1, 4])}]

    def get_output_details(self):
        return [{"index": 2}]


def test_a_model_xnnpack_refuses_is_reopened_on_builtin_kernels_naming_node_and_ops(monkeypatch, tmp_path):
    import sys
    import types

    from deploy_compare.runtimes import tflite

    module = types.ModuleType("refusing_interpreter")
    module.OpResolverType = types.SimpleNamespace(BUILTIN_WITHOUT_DEFAULT_DELEGATES="builtin-only")
    _RefusingInterpreter.__module__ = module.__name__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(tflite, "load_interpreter_class", lambda: (_RefusingInterpreter, "ai-edge-litert"))
    probed = []
    monkeypatch.setattr(tflite, "builtin_kernels_crash", lambda path, cls: probed.append(path))  # allocates
    _RefusingInterpreter.opened = []
    entry = _int8_entry()
    runtime = tflite.TFLiteRuntime(tmp_path / "m.tflite", entry, "NC", 1)
    assert _RefusingInterpreter.opened == [None, "builtin-only"] and probed == [tmp_path / "m.tflite"]
    assert runtime.notes == [
        "XNNPACK refused this model (delegate node 2, holding ADD x1, CONV_2D x1, failed to prepare): "
        "runs on TFLite's built-in kernels"
    ]
    # built-in kernels that abort in the child: an ArtifactError naming both refusals, this process alive
    monkeypatch.setattr(tflite, "builtin_kernels_crash", lambda path, cls: "abort the process allocating it (signal 6)")
    with pytest.raises(ArtifactError, match=r"delegate node 2, .*abort the process allocating it .*runs on neither"):
        tflite.TFLiteRuntime(tmp_path / "m.tflite", entry, "NC", 1)


def _output(index, name, op, position, shape=(1, 4), scale: float | None = 0.1, inputs=()):
    from deploy_compare.exporters.litert_torch_layers import OpOutput

    scales = (scale,) if scale else ()
    dtype = "int8" if scale else "float32"
    return OpOutput(index, name, op, position, shape, dtype, scales, (0,) * len(scales), 0, inputs)


def test_litert_outputs_match_by_module_through_conversions_then_by_op_order_and_the_rest_is_counted():
    from deploy_compare.exporters.litert_torch_layers import match_outputs

    floats = [
        _output(10, "m/conv;1", "CONV_2D", 0, scale=None),
        _output(11, "m/slice;2", "SLICE", 1, scale=None, inputs=(10,)),
        _output(12, "m/slice;3", "SLICE", 2, scale=None, inputs=(10,)),
        _output(13, "renamed_in_fp32", "MAX_POOL_2D", 3, (4,), scale=None, inputs=(11,)),
        _output(14, "x", "RESHAPE", 4, scale=None, inputs=(10,)),
        _output(15, "fc", "FULLY_CONNECTED", 5, (1, 10), scale=None, inputs=(13,)),
    ]
    int8 = [
        _output(0, "m/conv;", "CONV_2D", 0),  # its ";N" shifted: the same module, op and shape
        _output(1, "m/slice;1", "SLICE", 1, inputs=(0,)),  # two SLICEs of one module: paired in order
        _output(2, "m/slice;2", "SLICE", 2, inputs=(0,)),  # (not by their equal name "m/slice;2")
        _output(3, "requantized", "QUANTIZE", 3, inputs=(1,)),  # the int8 file's own: its input's value
        _output(4, "renamed_in_int8", "MAX_POOL_2D", 4, inputs=(3,)),  # by order; a leading 1 dropped
        _output(5, "y", "RESHAPE", 5, inputs=(2,)),  # reads another tensor than the float RESHAPE: not paired
        _output(6, "fc", "FULLY_CONNECTED", 6, (1, 12), inputs=(4,)),  # another shape: never paired
    ]
    pairs, unmatched = match_outputs(int8, floats)
    assert [(p.quantized.index, p.reference.index, p.matched_by) for p in pairs] == [
        (0, 10, "module"),
        (1, 11, "module"),
        (2, 12, "module"),
        (3, 11, "through QUANTIZE"),
        (4, 13, "order"),
    ]
    assert [t.name for t in unmatched] == ["y", "fc"]


def test_litert_pairs_are_dequantized_and_ranked_like_the_debugger_layers():
    from deploy_compare.exporters.litert_torch_layers import Pair, ranked_pairs

    exact = Pair(_output(0, "exact", "CONV_2D", 0, scale=0.5), _output(10, "exact", "CONV_2D", 0, scale=None), "name")
    exact.add(np.array([[2, 4, -2, 0]], np.int8), np.array([[1.0, 2.0, -1.0, 0.0]], np.float32))
    add = _output(1, "off", "ADD", 1, scale=0.5, inputs=(0, 7))  # 7: a constant
    off = Pair(add, _output(11, "off", "ADD", 1, scale=None), "order")
    off.add(np.array([[2, 4, -2, 0]], np.int8), np.array([[1.5, 2.5, -0.5, 0.5]], np.float32))
    ranked = ranked_pairs([exact, off])
    assert [r["tensor"] for r in ranked] == ["off", "exact"]
    worst = ranked[0]
    # every element 0.5 off, one quantization step: RMSE / scale = 1; relative to the float RMS, 1.5
    assert worst["rmse_over_scale"] == pytest.approx(1.0) and worst["max_abs_error"] == pytest.approx(0.5)
    assert worst["relative_rmse"] == pytest.approx(0.5 / np.sqrt(9.0 / 4), abs=1e-4)
    assert (worst["op"], worst["matched_by"]) == ("ADD", "order") and ranked[1]["rmse_over_scale"] == 0
    # the error each op adds: ADD reads the exact CONV output, so all of its error is its own
    assert worst["relative_rmse_added"] == worst["relative_rmse"] and ranked[1]["relative_rmse_added"] == 0


def _pool_graph(path, producer: str) -> None:
    """x -> <producer> -> MaxPool(3x3, stride 2, pad 1): ResNet-18's stem pooling."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2, 4, 4])
    nodes = [
        helper.make_node(producer, ["x"], ["act"], name="act"),
        helper.make_node("MaxPool", ["act"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


@pytest.mark.parametrize("producer", ["Relu", "Neg"])
def test_a_padded_max_pool_after_relu_gets_an_exact_zero_pad_for_int8(tmp_path, producer):
    """onnx2tf pads such a MaxPool with -3.4e38, which int8 calibration turns into an unusable
    scale; after a Relu, zero padding gives the same maximum. Anything else is left alone."""
    import onnx
    import onnxruntime as ort

    from deploy_compare.exporters.savedmodel import zero_pad_max_pools_after_relu

    path = tmp_path / "pool.onnx"
    _pool_graph(path, producer)
    x = np.random.default_rng(0).normal(size=(3, 2, 8, 8)).astype(np.float32)
    before = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    changed = zero_pad_max_pools_after_relu(str(path))
    model = onnx.load(str(path))
    after = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(after, before)
    pool = next(node for node in model.graph.node if node.op_type == "MaxPool")
    pads = next(list(a.ints) for a in pool.attribute if a.name == "pads")
    if producer == "Relu":
        assert changed == ["pool"] and pads == [0] * 4
        assert [node.op_type for node in model.graph.node] == ["Relu", "Pad", "MaxPool"]
    else:  # values may be negative: a zero pad could win the max
        assert changed == [] and pads == [1] * 4
