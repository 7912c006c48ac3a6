"""The report's edge section: which .tflite to ship, the two converter routes, and each device's rows.

"Which file do I ship to the device": per device result (every ingested device, and this
machine's local edge profile) the fastest TFLite variant whose accuracy stays within a
budget of the PyTorch model's (report.edge_accuracy_budget_points, default 1 point),
with its size and memory. Accuracy comes from the export's parity check on the whole
held-out set (labels), else top-1 agreement with PyTorch (budget read as agreement
points). A device run under emulation gets no recommendation: its timings are the
emulator's, and only its correctness is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..deploy.report_settings import accuracy_budget_points
from ..errors import ConfigError
from .document import Paragraph, Section, Table
from .fmt import DASH, get, getf, kib, pct, text
from .inputs import ReportInputs
from .names import ok_local, reference_accuracy, tflite_artifacts
from .tables import bench_ms, bench_table, peak_rss, xnnpack_coverage

#: p50s within this share of the fastest are a tie (never crown noise): the smallest file wins among them
TIE_SHARE = 0.05
ROUTES = {"litert-torch": "litert-torch (from PyTorch)", None: "onnx2tf + TFLiteConverter"}

INVOKE_NOTE = (
    "p50 ms is end-to-end: layout conversion and int8 quantize/dequantize of inputs and outputs "
    "included; invoke p50 ms (TFLite rows) times set_tensor + invoke + get_tensor on inputs already "
    "converted, as TFLite's benchmark_model times Invoke(). XNNPACK ops: ops the delegate took, "
    "from the interpreter's node list; a fallback runs the rest on TFLite's built-in kernels."
)


def route_of(entry: Any) -> str:
    return ROUTES.get(get(entry, "details", "route"), ROUTES[None])


def emulated(rows: list[dict[str, Any]]) -> str | None:
    """How a device's rows were emulated (run_edge.py marks machine.emulated), else None."""
    for row in rows:
        how = get(row, "machine", "emulated")
        if how:
            return str(how)
    return None


@dataclass(frozen=True)
class Quality:
    share: float  # accuracy, or top-1 agreement when there are no labels
    drop_points: float  # below PyTorch's accuracy (or below 100% agreement)
    kind: str  # "accuracy" | "agreement"


def quality(entry: Any, reference: float | None) -> Quality | None:
    acc = getf(entry, "parity", "accuracy")
    if acc is not None and reference is not None:
        return Quality(acc, (reference - acc) * 100, "accuracy")
    agree = getf(entry, "parity", "top1_agreement")
    if agree is not None:
        return Quality(agree, (1 - agree) * 100, "agreement")
    return None


def pick_to_ship(
    rows: list[dict[str, Any]], artifacts: dict[str, Any], reference: float | None, budget: float
) -> tuple[dict[str, Any] | None, int]:
    """(fastest OK row by end-to-end p50 among variants within the budget, the smallest file among
    those within TIE_SHARE of the fastest; how many variants were eligible)."""
    eligible = []
    for row in rows:
        entry = artifacts.get(get(row, "artifact"))
        q = quality(entry, reference)
        if get(entry, "parity", "over_budget"):
            continue  # over the export's accuracy budget: never shipped
        if get(row, "status") == "OK" and getf(row, "p50_ms") is not None and q is not None and q.drop_points <= budget:
            eligible.append(row)
    if not eligible:
        return None, 0
    fastest = min(getf(r, "p50_ms") or 0.0 for r in eligible)
    tied = [r for r in eligible if (getf(r, "p50_ms") or 0.0) <= fastest * (1 + TIE_SHARE)]
    return min(tied, key=lambda r: (getf(r, "file_size_bytes") or 0, getf(r, "p50_ms") or 0.0)), len(eligible)


def ship_table(inputs: ReportInputs, budget: float) -> Table:
    results = inputs.results
    artifacts = tflite_artifacts(results)
    reference = reference_accuracy(results)
    local = [r for r in ok_local(results, "edge") if get(r, "artifact") in artifacts]
    devices: list[tuple[str, list[dict[str, Any]]]] = []
    if local:
        devices.append(("this machine (edge profile)", local))
    devices += [
        (f"device {name}", [r for r in rows if get(r, "artifact") in artifacts]) for name, rows in inputs.edge.items()
    ]
    out: list[list[str]] = []
    statuses: list[str | None] = []
    for label, rows in devices:
        how = emulated(rows)
        if how:
            out.append([label, "no recommendation", *[DASH] * 8, f"EMULATED ({how}): timings are not a device's"])
            statuses.append("SKIPPED")
            continue
        row, eligible = pick_to_ship(rows, artifacts, reference, budget)
        if row is None:
            out.append([label, "none within budget", *[DASH] * 8, f"no OK TFLite row within {budget:g} point(s)"])
            statuses.append("FAILED")
            continue
        entry = artifacts[get(row, "artifact")]
        q = quality(entry, reference)
        assert q is not None  # pick_to_ship only keeps rows with a quality figure
        out.append(
            [
                label,
                text(get(row, "artifact")),
                text(get(entry, "path")),
                route_of(entry),
                kib(get(entry, "size_bytes")),
                peak_rss(row),
                bench_ms(row, "p50_ms"),
                bench_ms(row, "invoke_p50_ms"),
                f"{pct(q.share, 2)} ({q.kind})",
                f"{-q.drop_points:+.2f}",
                f"fastest end-to-end p50 of {eligible} variant(s) within {budget:g} point(s) "
                f"(p50s within {TIE_SHARE:.0%} are a tie: the smallest file wins), {text(get(row, 'threads'))} thread(s)",
            ]
        )
        statuses.append("OK")
    return Table(
        [
            "device result",
            "ship",
            "file",
            "converter",
            "size KiB",
            "peak RSS MiB init / overall",
            "p50 ms",
            "invoke p50 ms",
            "accuracy",
            "points vs PyTorch",
            "why",
        ],
        out,
        statuses,
        caption=f"Which file to ship: the fastest TFLite variant within {budget:g} accuracy point(s) of PyTorch",
    )


def route_table(inputs: ReportInputs) -> Table | None:
    """onnx2tf route vs litert-torch route, per variant both made (local edge-profile timings)."""
    results = inputs.results
    artifacts = tflite_artifacts(results)
    by_variant: dict[str, dict[str, tuple[str, Any]]] = {}
    for name, entry in artifacts.items():
        by_variant.setdefault(text(get(entry, "variant")), {})[route_of(entry)] = (name, entry)
    both = {v: routes for v, routes in by_variant.items() if len(routes) > 1}
    if not both:
        return None
    local = {get(r, "artifact"): r for r in sorted(ok_local(results, "edge"), key=lambda r: -(getf(r, "threads") or 0))}
    out: list[list[str]] = []
    statuses: list[str | None] = []
    for variant, routes in sorted(both.items()):
        for route, (name, entry) in sorted(routes.items()):
            row = local.get(name)
            out.append(
                [
                    variant,
                    route,
                    name,
                    kib(get(entry, "size_bytes")),
                    bench_ms(row, "invoke_p50_ms"),
                    bench_ms(row, "p50_ms"),
                    pct(getf(entry, "parity", "accuracy"), 2),
                    pct(getf(entry, "parity", "top1_agreement"), 2),
                    DASH
                    if getf(entry, "parity", "max_abs_diff") is None
                    else f"{getf(entry, 'parity', 'max_abs_diff'):.2e}",
                    xnnpack_coverage(row) if row else DASH,
                ]
            )
            statuses.append("OK" if get(entry, "parity", "passed") else "FAILED")
    return Table(
        [
            "variant",
            "converter",
            "artifact",
            "size KiB",
            "invoke p50 ms",
            "p50 ms",
            "accuracy",
            "top-1 agree",
            "max |diff|",
            "XNNPACK ops",
        ],
        out,
        statuses,
        caption="The two PyTorch-to-TFLite routes per variant (timings: this machine, edge profile)",
    )


def correctness_table(rows: list[dict[str, Any]]) -> Table:
    """An emulated device's rows without their timings."""
    return Table(
        ["artifact", "status", "top-1 agree", "XNNPACK ops", "size KiB", "reason / error"],
        [
            [
                text(get(r, "artifact")),
                text(get(r, "status")),
                DASH
                if getf(r, "top1_agreement") is None
                else f"{pct(get(r, 'top1_agreement'))} of {text(get(r, 'samples_checked'))}",
                xnnpack_coverage(r),
                kib(get(r, "file_size_bytes")),
                text(get(r, "reason")),
            ]
            for r in rows
        ],
        [text(get(r, "status")) if get(r, "status") else None for r in rows],
    )


def device_description(rows: list[dict[str, Any]]) -> str:
    machine: dict[str, Any] = next((r["machine"] for r in rows if isinstance(r.get("machine"), dict)), {}) or {}
    return (
        f"{text(machine.get('cpu_model'))}, {text(machine.get('machine'))}, {text(machine.get('system'))} "
        f"{text(machine.get('release'))}, {text(machine.get('logical_cpus'))} CPUs, "
        f"{text(machine.get('memory_total_mib'))} MiB, Python {text(machine.get('python'))}"
    )


def edge_section(inputs: ReportInputs) -> Section | None:
    has_local_tflite = any(
        get(r, "artifact") in tflite_artifacts(inputs.results) for r in ok_local(inputs.results, "edge")
    )
    if not inputs.edge and not inputs.edge_problems and not has_local_tflite:
        return None
    try:
        budget = accuracy_budget_points(inputs.results.settings)
        blocks: list = [ship_table(inputs, budget)]
    except ConfigError as exc:
        blocks = [Paragraph(f"No recommendation: {exc}", tone="warning")]
    routes = route_table(inputs)
    if routes is not None:
        blocks.append(routes)
    blocks.append(Paragraph(INVOKE_NOTE, tone="note"))
    for device, rows in inputs.edge.items():
        how = emulated(rows)
        if how:
            blocks += [
                Paragraph(
                    f"EMULATED, not a device ({how}); {device_description(rows)}. Its latencies are the "
                    "emulator's and are not shown; the run proves the bundle works on this architecture "
                    "and computes the same predictions.",
                    lead=f"Device {device}",
                    tone="warning",
                ),
                correctness_table(rows),
            ]
        else:
            blocks += [Paragraph(device_description(rows), lead=f"Device {device}"), bench_table(rows)]
    for problem in inputs.edge_problems:
        blocks.append(Paragraph(problem, tone="warning"))
    return Section("edge", "Edge devices: which file to ship", blocks)
