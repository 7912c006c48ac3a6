"""Where int8 loses accuracy: the loss of each quantized file with its paired interval, the
layers QuantizationDebugger ranks worst, and what keeping them in float buys back.

The sentence answers "int8 costs 7 points; keeping these 3 layers in float costs 0.5 point
and 10% of the speed-up": points from the export's parity (the same held-out samples for
every file, intervals from the discordant pairs), speed from this machine's edge-profile
rows (end-to-end p50, fewest threads) of tflite_fp32, tflite_int8 and tflite_int8_selective.
"""

from __future__ import annotations

from typing import Any

from ..deploy.results import RunResults
from .document import Paragraph, Table
from .fmt import DASH, get, getf, num, text
from .names import footprint_row

INT8, SELECTIVE, FLOAT = "tflite_int8", "tflite_int8_selective", "tflite_fp32"


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


def layer_table(results: RunResults) -> Table | None:
    selective = results.artifacts.get(SELECTIVE)
    ranking = get(selective, "details", "layer_error_ranking") if isinstance(selective, dict) else None
    if not ranking:
        return None
    kept = set(get(selective, "details", "layers_kept_float") or [])
    rows = [
        [
            str(rank),
            text(get(layer, "op")),
            text(get(layer, "tensor")),
            num(getf(layer, "rmse_over_scale"), 3),
            f"{getf(layer, 'mean_squared_error') or 0.0:.3g}",
            "float" if get(layer, "tensor") in kept else "int8",
        ]
        for rank, layer in enumerate(ranking, 1)
    ]
    return Table(
        ["rank", "op", "output tensor", "RMSE / scale", "MSE", "in tflite_int8_selective"],
        rows,
        ["OK"] * len(rows),
        caption=(
            f"int8 error per layer against the float model (QuantizationDebugger, "
            f"{text(get(selective, 'details', 'debug_samples'))} samples; worst first of "
            f"{text(get(selective, 'details', 'layers_compared'))})"
        ),
    )
