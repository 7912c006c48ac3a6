"""Where int8 loses accuracy: the loss of each quantized file with its paired interval, the
layers each route ranks worst (onnx2tf's by QuantizationDebugger, litert-torch's from its
two files' intermediate tensors, both by RMSE over the quantization step), and what keeping
the onnx2tf route's worst in float buys back.

The sentence answers "int8 costs 7 points; keeping these 3 layers in float costs 0.5 point
and 10% of the speed-up": points from the export's parity (the same held-out samples for
every file, intervals from the discordant pairs), speed from this machine's edge-profile
rows (end-to-end p50, fewest threads) of tflite_fp32, tflite_int8 and tflite_int8_selective.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..deploy.results import RunResults
from .document import Paragraph, Table
from .fmt import DASH, get, getf, num, text
from .names import footprint_row

INT8, SELECTIVE, FLOAT = "tflite_int8", "tflite_int8_selective", "tflite_fp32"
LITERT_INT8, LITERT_FLOAT = "litert_torch_int8", "litert_torch_fp32"


def loss_text(entry: Any) -> str:
    """ "6.3 points (95%: 2.1 to 10.4)" from a parity's paired figures; a dash without them."""
    drop = getf(entry, "parity", "accuracy_drop_points")
    if drop is None:
        return DASH
    interval = get(entry, "parity", "accuracy_drop_interval_points") or []
    tail = f" (95%: {interval[0]:.1f} to {interval[1]:.1f})" if len(interval) == 2 else ""
    return f"{drop:.1f} points{tail}"


def _p50(results: RunResults, artifact: str) -> float | None:
    return getf(footprint_row(results, artifact), "p50_ms")


def speedup_kept(results: RunResults) -> float | None:
    """Share of full int8's p50 gain over fp32 the selective file keeps (None when unmeasured)."""
    fp32, int8, selective = (_p50(results, n) for n in (FLOAT, INT8, SELECTIVE))
    if fp32 is None or int8 is None or selective is None or fp32 <= int8:
        return None
    return (fp32 - selective) / (fp32 - int8)


def selective_summary(results: RunResults) -> Paragraph | None:
    int8, selective = results.artifacts.get(INT8), results.artifacts.get(SELECTIVE)
    if not isinstance(int8, dict) or not isinstance(selective, dict):
        return None
    kept = get(selective, "details", "layers_kept_float") or []
    sentence = (
        f"Full int8 ({INT8}) costs {loss_text(int8)}; keeping {len(kept)} layer(s) in float ({SELECTIVE}: "
        f"{', '.join(kept) or 'none'}) costs {loss_text(selective)}"
    )
    share = speedup_kept(results)
    if share is not None:
        sentence += f" and {(1 - share) * 100:.0f}% of int8's speed-up over fp32 (end-to-end p50, edge profile)"
    else:
        sentence += "; its speed against fp32 and full int8 was not measured in this run"
    over = [n for n, e in ((INT8, int8), (SELECTIVE, selective)) if get(e, "parity", "over_budget")]
    if over:
        sentence += f". Over the accuracy budget (a finding, served and shipped nowhere): {', '.join(over)}"
    return Paragraph(sentence + ".", lead="Where int8 loses accuracy", tone="note")


def layer_label(tensor: Any) -> str:
    """litert-torch's tensor names made readable: its module paths lose their packages and the model
    ("pkg.DigitsCNN/torch.nn.modules.container.Sequential_features/torch.nn.modules.conv.Conv2d_0;1"
    -> "Sequential_features/Conv2d_0;1"), each part of a fused name kept."""
    if not isinstance(tensor, str):
        return text(tensor)
    parts = []
    for part in tensor.split(";"):
        segments = [segment.rsplit(".", 1)[-1] for segment in part.split("/")]
        parts.append("/".join(segments[1:] if len(segments) > 1 else segments))
    return ";".join(parts)


def _ranking_rows(ranking: list, extra: Callable[[Any], list[str]], label: Callable[[Any], str] = text) -> list:
    """One row per ranked layer: rank, op, output tensor, RMSE / scale, MSE, then the route's own columns."""
    return [
        [
            str(rank),
            text(get(layer, "op")),
            label(get(layer, "tensor")),
            num(getf(layer, "rmse_over_scale"), 3),
            f"{getf(layer, 'mean_squared_error') or 0.0:.3g}",
            *extra(layer),
        ]
        for rank, layer in enumerate(ranking, 1)
    ]


HEADERS = ["rank", "op", "output tensor", "RMSE / scale", "MSE"]


def _debugger_table(selective: Any) -> Table | None:
    """The onnx2tf route: QuantizationDebugger's ranking, and which layers tflite_int8_selective keeps in float."""
    ranking = get(selective, "details", "layer_error_ranking")
    if not ranking:
        return None
    kept = set(get(selective, "details", "layers_kept_float") or [])
    rows = _ranking_rows(
        ranking,
        lambda layer: [
            num(getf(layer, "relative_rmse"), 4),
            "float" if get(layer, "tensor") in kept else "int8",
        ],
    )
    return Table(
        [*HEADERS, "RMSE / float RMS", "in tflite_int8_selective"],
        rows,
        ["OK"] * len(rows),
        caption=(
            f"onnx2tf route: int8 error per layer against the float model (QuantizationDebugger, "
            f"{text(get(selective, 'details', 'debug_samples'))} samples; worst first of "
            f"{text(get(selective, 'details', 'layers_compared'))})"
        ),
    )


def _litert_block(entry: Any) -> Table | Paragraph | None:
    """The litert-torch route: its int8 file's op outputs against its fp32 file's (litert_torch_layers.py)."""
    details = get(entry, "details") or {}
    ranking = get(details, "layer_error_ranking")
    if not ranking:
        why = get(details, "layer_comparison")
        if not why:
            return None
        return Paragraph(f"{LITERT_INT8} against {LITERT_FLOAT}: {why}.", lead="Per-layer int8 error", tone="note")
    rows = _ranking_rows(
        ranking,
        lambda layer: [
            num(getf(layer, "relative_rmse"), 4),
            num(getf(layer, "relative_rmse_added"), 4),
            text(get(layer, "matched_by")),
        ],
        label=layer_label,
    )
    matched = get(details, "tensors_matched") or {}
    ways = get(matched, "by") or {}
    how = ", ".join(f"{count} by {way}" for way, count in ways.items()) if isinstance(ways, dict) else ""
    return Table(
        [*HEADERS, "RMSE / float RMS", "added by the op", "matched by"],
        rows,
        ["OK"] * len(rows),
        caption=(
            f"litert-torch route: {LITERT_INT8}'s int8 error per layer against {LITERT_FLOAT} "
            f"(op outputs compared on {text(get(details, 'debug_samples'))} samples; {text(get(matched, 'matched'))} of "
            f"{text(get(matched, 'op_outputs'))} matched{f' ({how})' if how else ''}, "
            f"{text(get(matched, 'unmatched'))} unmatched; "
            f"worst first of {text(get(details, 'layers_compared'))}; each output carries the error of the int8 "
            "ops before it, the debugger's only its op's own: 'added by the op' is the nearer figure)"
        ),
    )


def layer_tables(results: RunResults) -> list[Table | Paragraph]:
    """The worst layers of each route that ranked them: onnx2tf's (QuantizationDebugger), then litert-torch's."""
    selective, litert = results.artifacts.get(SELECTIVE), results.artifacts.get(LITERT_INT8)
    blocks = [
        _debugger_table(selective) if isinstance(selective, dict) else None,
        _litert_block(litert) if isinstance(litert, dict) else None,
    ]
    return [b for b in blocks if b is not None]
