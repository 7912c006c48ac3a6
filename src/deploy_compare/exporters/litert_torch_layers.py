"""Where the litert-torch route's int8 loses accuracy: each op output of litert_torch_int8
against the same output of litert_torch_fp32.

The onnx2tf route has TensorFlow's QuantizationDebugger (quant_debug.py). litert-torch
quantizes in PyTorch (PT2E) and then converts, so no debugger can instrument it; its two
files are compared instead. Both run the samples the debugger runs (the first
DEBUG_SAMPLES representative samples) in TFLite's interpreter with every intermediate
tensor kept (`experimental_preserve_all_tensors`, which also leaves out the XNNPACK
delegate: TFLite's built-in kernels compute each op's output). Each op output of the int8
file is matched to the float file's:

1. by name: litert-torch names an op's output after the PyTorch modules it comes from
   ("...Sequential_features/...Conv2d_0;1"), then numbers the tensors one module makes
   (";1", ";2"). That numbering shifts when the int8 file has more ops (MobileNetV2's int8
   file: 12 of its 93 outputs keep their exact name; the text preset's "EncoderLayer_0;3" is
   another SLICE in each file), so outputs are grouped by module name without it, op type and
   shape, and paired in execution order where a group has as many tensors in each file
   ("name" when the names are equal, else "module");
2. through a QUANTIZE or DEQUANTIZE the int8 file adds (around a residual ADD it keeps in
   float, say): the float value is that of the op's input;
3. by op order: the first unmatched float op of the same type and shape between the float
   ops matched to the int8 ops around it, that reads the float tensors matched to its inputs
   (or a RESHAPE of them; the text preset's int8 file scales the attention scores after a RESHAPE, the float file
   before it: that RESHAPE is left unmatched, not paired with values 8 times larger).

Shapes are compared without their 1s (a reshape that only adds or drops them keeps the
values in their order; the int8 FULLY_CONNECTED of the text preset keeps a leading 1).

What stays unmatched (a float op the int8 file fused away or split) is counted and listed in
the CSV, never guessed. The int8 output is dequantized with its scale/zero point, and the
layers are ranked as the onnx2tf route ranks them (quant_debug.rank_layers: RMSE over the output's quantization step, above
~0.7 more than rounding), with the RMSE relative to the float output's RMS beside it
(scale-free, comparable across layers of different ranges).

One difference in what is measured: the two files run apart, so an output's error here is
everything the int8 ops before it did (a MAX_POOL_2D carries its input's error), where
QuantizationDebugger feeds each float op the int8 op's own inputs (its MAX_POOL_2D shows 0).
relative_rmse_added, the relative RMSE less the largest of the op's inputs', is the part
this op adds: the figure nearest to the debugger's.

Run after every export of litert_torch_int8, a reused file included (like verification):
the ranking goes into its manifest entry's details, every output in litert_torch_layers.csv.
"""

from __future__ import annotations

import collections
import csv
import io
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..batches import Batch, batch_len, take
from ..errors import first_line
from ..fileio import write_text_atomic
from ..manifest import ArtifactEntry, QuantParams
from ..quantization import dequantize, quantize
from ..tflite_invoke import DELEGATE_OP
from .base import ExportContext
from .quant_debug import DEBUG_SAMPLES, RANKED_IN_MANIFEST, rank_layers
from .tflite import _representative

FLOAT, INT8 = "litert_torch_fp32", "litert_torch_int8"
#: ops only the int8 file has: their float value is their input's
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")
LAYER_STATS_FILE = "litert_torch_layers.csv"
#: the keys this module writes into litert_torch_int8's details (cleared before each run)
DETAIL_KEYS = (
    "layer_error_ranking",
    "layers_compared",
    "tensors_matched",
    "debug_samples",
    "layer_statistics",
    "ranking",
    "compared_against",
    "layer_comparison",
)
CSV_COLUMNS = (
    "rank",
    "op_name",
    "tensor_name",
    "matched_by",
    "float_tensor_name",
    "shape",
    "scale",
    "zero_point",
    "num_elements",
    "mean_squared_error",
    "max_abs_error",
    "rmse_over_scale",
    "relative_rmse",
    "relative_rmse_added",
)


@dataclass(frozen=True)
class OpOutput:
    """One op's output tensor in one file, in the interpreter's execution order."""

    index: int  # the tensor's index in its interpreter
    name: str
    op: str
    position: int  # the op's place in the execution plan
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...]  # empty for a float tensor; one per channel when per-channel
    zero_points: tuple[int, ...]
    axis: int
    inputs: tuple[int, ...] = ()  # the op's input tensors (activations and constants)

    @property
    def dims(self) -> tuple[int, ...]:
        """The shape without its 1s: the files may differ by a reshape that only adds or drops them
        (the int8 FULLY_CONNECTED keeping a leading 1 the float one drops), the values in one order."""
        return tuple(d for d in self.shape if d != 1)

    @property
    def scale(self) -> float | None:
        """The quantization step of a per-tensor quantized output (None: float or per-channel)."""
        return self.scales[0] if len(self.scales) == 1 and self.scales[0] > 0 else None

    def real(self, raw: np.ndarray) -> np.ndarray:
        """The tensor's real values: dequantized with its scale(s)/zero point(s), or as float32."""
        if not self.scales or np.dtype(self.dtype).kind not in "iu":
            return raw.astype(np.float32)
        if len(self.scales) == 1:
            return dequantize(raw, QuantParams(self.scales[0], self.zero_points[0]))
        shape = [1] * raw.ndim
        shape[self.axis] = -1
        scales = np.asarray(self.scales, np.float32).reshape(shape)
        zero_points = np.asarray(self.zero_points, np.float32).reshape(shape)
        return (raw.astype(np.float32) - zero_points) * scales


@dataclass
class Pair:
    """An int8 op output matched to a float one, and its error summed over the samples."""

    quantized: OpOutput  # in the int8 file
    reference: OpOutput  # in the float file
    matched_by: str  # "name" or "order"
    squared_error: float = 0.0
    squared_float: float = 0.0
    sum_of_max_abs_error: float = 0.0
    elements: int = 0
    samples: int = 0

    def add(self, int8_raw: np.ndarray, float_value: np.ndarray) -> None:
        reference = float_value.astype(np.float64).ravel()
        diff = self.quantized.real(int8_raw).astype(np.float64).ravel() - reference
        self.squared_error += float(np.sum(diff * diff))
        self.squared_float += float(np.sum(reference * reference))
        self.sum_of_max_abs_error += float(np.max(np.abs(diff))) if diff.size else 0.0
        self.elements += int(diff.size)
        self.samples += 1

    def statistics(self) -> dict[str, float | None]:
        """The debugger's figures aggregated as it aggregates them (the mean over the samples of each
        sample's figure; a tensor has as many elements in every sample, so its MSE is the pooled one),
        and the RMSE relative to the float output's RMS."""
        mse = self.squared_error / self.elements if self.elements else math.nan
        max_abs = self.sum_of_max_abs_error / self.samples if self.samples else math.nan
        relative = round(math.sqrt(self.squared_error / self.squared_float), 4) if self.squared_float > 0 else None
        return {"mean_squared_error": mse, "max_abs_error": max_abs, "relative_rmse": relative}


def open_preserving(path: Path) -> Any:
    """A TFLite interpreter on `path` that keeps every intermediate tensor readable after invoke:
    on TFLite's built-in kernels (LiteRT keeps XNNPACK on when asked to preserve tensors, and a
    delegated op's output is not kept)."""
    import importlib
    import warnings

    from ..runtimes.tflite import load_interpreter_class

    interpreter_class, _ = load_interpreter_class()
    resolver = importlib.import_module(interpreter_class.__module__).OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():  # "intended for debugging purposes only": this is debugging
        warnings.simplefilter("ignore", UserWarning)
        interpreter = interpreter_class(
            model_path=str(path), experimental_preserve_all_tensors=True, experimental_op_resolver_type=resolver
        )
    interpreter.allocate_tensors()
    return interpreter


def op_outputs(interpreter: Any) -> list[OpOutput]:
    """Every op's output tensors, in execution order (the interpreter's node list, a private API
    QuantizationDebugger itself reads)."""
    details = {int(d["index"]): d for d in interpreter.get_tensor_details()}
    outputs = []
    for position, op in enumerate(interpreter._get_ops_details()):
        if op["op_name"] == DELEGATE_OP:  # a delegated partition repeats its ops' outputs (none here)
            continue
        for index in op["outputs"]:
            detail = details.get(int(index))
            if detail is None:  # -1 (an optional output left out) or a tensor the interpreter hides
                continue
            q = detail.get("quantization_parameters") or {}
            outputs.append(
                OpOutput(
                    index=int(index),
                    name=str(detail["name"]),
                    op=str(op["op_name"]),
                    position=position,
                    shape=tuple(int(d) for d in detail["shape"]),
                    dtype=np.dtype(detail["dtype"]).name,
                    scales=tuple(float(s) for s in q.get("scales", ())),
                    zero_points=tuple(int(z) for z in q.get("zero_points", ())),
                    axis=int(q.get("quantized_dimension", 0)),
                    inputs=tuple(int(i) for i in op["inputs"]),
                )
            )
    return outputs


def module_of(name: str) -> str:
    """A litert-torch tensor name without its trailing ";N": the numbering that tells apart the
    tensors one PyTorch module makes, which shifts between the files when one has more ops."""
    return re.sub(r";\d*$", "", name)


def match_outputs(int8: list[OpOutput], floats: list[OpOutput]) -> tuple[list[Pair], list[OpOutput]]:
    """(the int8 file's op outputs matched to the float file's, those left unmatched), in three passes
    (the module doc): by module name, through a QUANTIZE/DEQUANTIZE, by op order."""
    pairs: dict[int, Pair] = {}  # by the int8 tensor's index
    left = {f.index: f for f in floats}

    def pair(t: OpOutput, f: OpOutput, how: str) -> None:
        pairs[t.index] = Pair(t, f, how)
        left.pop(f.index, None)

    def groups(outputs, key) -> dict[Any, list[OpOutput]]:
        grouped: dict[Any, list[OpOutput]] = {}
        for t in outputs:
            grouped.setdefault(key(t), []).append(t)
        return grouped

    # 1. the same module, op type and shape, as many in each file: paired in execution order
    def module_key(t: OpOutput) -> tuple:
        return (module_of(t.name), t.op, t.dims)

    float_modules = groups(floats, module_key)
    for key, ts in groups(int8, module_key).items():
        fs = float_modules.get(key, [])
        if len(ts) == len(fs):
            for t, f in zip(ts, fs):  # both in execution order
                pair(t, f, "name" if t.name == f.name else "module")

    # 2. the int8 file's own (de)quantization: the float value is its input's (again after 3.)
    def through_conversions() -> None:
        for t in int8:
            if t.index not in pairs and t.op in CONVERSION_OPS:
                source = next((pairs[i] for i in t.inputs if i in pairs), None)
                if source is not None:
                    pairs[t.index] = Pair(t, source.reference, f"through {t.op}")

    through_conversions()
    reshaped = {f.index: f.inputs[0] for f in floats if f.op == "RESHAPE" and f.inputs}

    def source(index: int) -> int:
        """A float tensor, or the one it is a RESHAPE of (the same values in the same order)."""
        while index in reshaped:
            index = reshaped[index]
        return index

    # 3. op order: the first unmatched float op of the same type and shape between the float ops
    # matched to the int8 ops around it
    for t in int8:
        if t.index in pairs:
            continue
        before = [p.reference.position for p in pairs.values() if p.quantized.position < t.position]
        after = [p.reference.position for p in pairs.values() if p.quantized.position > t.position]
        low, high = max(before, default=-1), min(after, default=math.inf)
        fed = {source(pairs[i].reference.index) for i in t.inputs if i in pairs}  # its matched inputs, in float
        match = next(
            (
                f
                for f in left.values()
                if low <= f.position <= high
                and f.op == t.op
                and f.dims == t.dims
                and fed <= {source(i) for i in f.inputs}
            ),
            None,
        )
        if match is not None:
            pair(t, match, "order")
    through_conversions()
    ordered = [pairs[t.index] for t in int8 if t.index in pairs]
    return ordered, [t for t in int8 if t.index not in pairs]


def _feed(interpreter: Any, input_names: list[str], sample: Batch) -> None:
    """Set one sample (batch of 1) as the file's inputs, int8-quantized where the file takes int8."""
    details = interpreter.get_input_details()
    by_name = {d["name"]: d for d in details}
    ordered = [by_name[n] for n in input_names] if set(input_names) <= set(by_name) else details
    arrays = list(sample.values()) if isinstance(sample, dict) else [sample]
    for detail, array in zip(ordered, arrays):
        dtype = np.dtype(detail["dtype"])
        scale, zero_point = detail["quantization"]
        if dtype.kind in "iu" and array.dtype.kind == "f" and scale:
            array = quantize(array, QuantParams(float(scale), int(zero_point)), dtype.name)
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(array, dtype=dtype))


def compare_files(
    int8_path: Path,
    float_path: Path,
    samples: Batch,
    int8_inputs: list[str],
    float_inputs: list[str],
) -> tuple[list[Pair], list[OpOutput], int]:
    """(matched pairs with their errors over `samples`, unmatched int8 outputs, how many int8 outputs)."""
    int8_interpreter, float_interpreter = open_preserving(int8_path), open_preserving(float_path)
    int8_outputs = op_outputs(int8_interpreter)
    pairs, unmatched = match_outputs(int8_outputs, op_outputs(float_interpreter))
    for i in range(batch_len(samples)):
        sample = take(samples, slice(i, i + 1))
        _feed(int8_interpreter, int8_inputs, sample)
        _feed(float_interpreter, float_inputs, sample)
        int8_interpreter.invoke()
        float_interpreter.invoke()
        for pair in pairs:
            pair.add(
                int8_interpreter.get_tensor(pair.quantized.index), float_interpreter.get_tensor(pair.reference.index)
            )
    return pairs, unmatched, len(int8_outputs)


def _labels(pairs: list[Pair]) -> list[str]:
    """Each pair's int8 tensor name, its tensor index added where the name is not unique."""
    names = [p.quantized.name for p in pairs]
    return [n if names.count(n) == 1 else f"{n}#{p.quantized.index}" for n, p in zip(names, pairs)]


def pair_statistics(pairs: list[Pair]) -> list[dict[str, Any]]:
    """Each pair's statistics (Pair.statistics), and relative_rmse_added: its relative RMSE less the
    largest of its op's inputs' (0 for a graph input), the error this op adds. Every output compared
    here carries the error of all the int8 ops before it (the two files run apart), where the
    debugger's NumericVerify feeds the float op the int8 op's own inputs: the added figure is the
    nearest to the debugger's per-op error."""
    stats: list[dict[str, Any]] = [p.statistics() for p in pairs]
    relative: dict[int, float] = {
        p.quantized.index: s["relative_rmse"] for p, s in zip(pairs, stats) if s["relative_rmse"] is not None
    }
    for pair, figures in zip(pairs, stats):
        before = [relative[i] for i in pair.quantized.inputs if i in relative]
        own = figures["relative_rmse"]
        figures["relative_rmse_added"] = None if own is None else round(own - max(before, default=0.0), 4)
    return stats


def ranked_pairs(pairs: list[Pair]) -> list[dict[str, Any]]:
    """The quantized outputs ranked as the onnx2tf route's layers are (rank_layers), with op and match."""
    stats = pair_statistics(pairs)
    labels = _labels(pairs)
    ranked = rank_layers(
        {label: s for label, s, p in zip(labels, stats, pairs) if p.quantized.scale is not None},
        {label: p.quantized.scale for label, p in zip(labels, pairs) if p.quantized.scale is not None},
    )
    by_label = dict(zip(labels, pairs))
    for row in ranked:
        pair = by_label[row["tensor"]]
        row.update(op=pair.quantized.op, matched_by=pair.matched_by)
    return ranked


def layer_csv(pairs: list[Pair], unmatched: list[OpOutput], ranked: list[dict[str, Any]]) -> str:
    """Every op output of the int8 file: ranked ones first (worst first), then matched but unranked
    (float or per-channel outputs), then the unmatched."""
    rank_of = {row["tensor"]: n for n, row in enumerate(ranked, 1)}
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = []
    for label, pair, stats in zip(_labels(pairs), pairs, pair_statistics(pairs)):
        t, scale = pair.quantized, pair.quantized.scale
        rows.append(
            {
                "rank": rank_of.get(label, ""),
                "op_name": t.op,
                "tensor_name": t.name,
                "matched_by": pair.matched_by,
                "float_tensor_name": pair.reference.name,
                "shape": "x".join(map(str, t.shape)),
                "scale": scale if scale is not None else "",
                "zero_point": t.zero_points[0] if scale is not None else "",
                "num_elements": pair.elements,
                "mean_squared_error": stats["mean_squared_error"],
                "max_abs_error": stats["max_abs_error"],
                "rmse_over_scale": round(math.sqrt(stats["mean_squared_error"]) / scale, 4) if scale else "",
                "relative_rmse": stats["relative_rmse"],
                "relative_rmse_added": stats["relative_rmse_added"],
            }
        )
    rows.sort(key=lambda r: (r["rank"] == "", r["rank"] if r["rank"] != "" else 0))
    rows += [
        {"op_name": t.op, "tensor_name": t.name, "matched_by": "unmatched", "shape": "x".join(map(str, t.shape))}
        for t in unmatched
    ]
    writer.writerows(rows)
    return out.getvalue()


def compare_layers(ctx: ExportContext, entry: ArtifactEntry) -> None:
    """Rank litert_torch_int8's layers against litert_torch_fp32 into `entry.details` and the CSV.

    A comparison that cannot run is recorded in details["layer_comparison"] (and said), never
    the artifact's failure: the int8 file itself is verified on its own."""
    for key in DETAIL_KEYS:
        entry.details.pop(key, None)
    if FLOAT not in ctx.done:
        entry.details["layer_comparison"] = f"not run: {FLOAT} was not exported in this run"
        return
    try:
        # the export's own representative samples (its warning about too few was said there)
        samples, described = _representative(replace(ctx, progress=lambda message: None), ctx.bundle.layout)
        samples = take(samples, slice(0, DEBUG_SAMPLES))
        pairs, unmatched, total = compare_files(
            ctx.out_dir / entry.path,
            ctx.path_of(FLOAT),
            samples,
            [s.name for s in entry.inputs],
            [s.name for s in ctx.done[FLOAT].inputs],
        )
    except Exception as exc:  # the interpreter's or a converter's quirk: the finding is lost, not the artifact
        entry.details["layer_comparison"] = f"failed: {type(exc).__name__}: {first_line(exc)}"
        ctx.progress(f"  warning: {INT8}: per-layer comparison with {FLOAT} failed ({first_line(exc)})")
        return
    ranked = ranked_pairs(pairs)
    write_text_atomic(ctx.out_dir / LAYER_STATS_FILE, layer_csv(pairs, unmatched, ranked))
    how = collections.Counter(p.matched_by for p in pairs)
    entry.details.update(
        {
            "layer_comparison": "done",
            "compared_against": FLOAT,
            "layer_error_ranking": ranked[:RANKED_IN_MANIFEST],
            "layers_compared": len(ranked),
            "tensors_matched": {
                "op_outputs": total,
                "matched": len(pairs),
                "unmatched": len(unmatched),
                "by": {way: how[way] for way in sorted(how, key=lambda w: -how[w])},  # name, module, order, through
                "not_ranked": len(pairs) - len(ranked),  # matched, but float or per-channel: no one step
            },
            "debug_samples": batch_len(samples),
            "layer_statistics": LAYER_STATS_FILE,
            "ranking": (
                f"sqrt(mean_squared_error) / output scale, per op output matched to {FLOAT}'s (worst first), "
                "the error accumulated through the int8 ops before it; relative_rmse: RMSE / the float output's "
                f"RMS; relative_rmse_added: less its inputs' (what the op adds); samples: the first "
                f"{batch_len(samples)} of {described}"
            ),
        }
    )
