"""Assemble the report Document from a run's inputs (no I/O except plotting into memory)."""

from __future__ import annotations

import json

from ..repeats import bench_repetitions
from . import encodings, plots, plots_stacks, quantization, tables
from .document import Bullets, Code, Details, Document, Figure, Paragraph, Section
from .edge import INVOKE_NOTE, edge_section
from .fairfight import fair_fight_section
from .firstscreen import first_screen
from .fmt import get, getf, ms, text
from .gate import budget_section
from .inputs import ReportInputs
from .names import local_rows
from .serverview import server_view_section
from .verdicts import all_verdicts


def _figure(key: str, title: str, png: bytes | None, alt: str, missing: str) -> Figure | Paragraph:
    return Figure(key, title, png, alt) if png else Paragraph(f"No plot: {missing}.", tone="note")


def banner(inputs: ReportInputs) -> list[Paragraph]:
    run = inputs.results.run
    if run.interrupted:
        return [
            Paragraph(
                "INTERRUPTED RUN - INCOMPLETE RESULTS. The run was stopped before it finished; "
                "the figures below cover only what completed, and targets with no result are marked "
                "NOT RUN or INTERRUPTED.",
                tone="warning",
            )
        ]
    if not run.complete:
        return [
            Paragraph(
                "INCOMPLETE RUN. results.json says the run did not complete; figures may be missing.", tone="warning"
            )
        ]
    return []


def verdict_section(inputs: ReportInputs) -> Section:
    blocks: list = [
        Paragraph(
            "Each answer comes from the figures in this report (results.json); the sections below hold every row. "
            "Labels are short (stack · runtime): the legend under the cards spells each one out.",
            tone="note",
        )
    ]
    for v in all_verdicts(inputs.results):
        blocks.append(Paragraph(v.answer, lead=v.question))
        if v.details:
            blocks.append(Bullets(v.details))
    return Section("verdicts", "Every verdict in full", blocks)


def headline_section(inputs: ReportInputs) -> Section | None:
    """The table a user reads first (report/tuning.py headline_table): each stack at its
    defaults vs tuned, and what batching bought; None when the run has neither."""
    from .tuning import headline_table

    table = headline_table(inputs.results)
    if not table.rows:
        return None
    bound = next((getf(s.slo, "p99_bound_ms") for s in inputs.results.served if isinstance(s.slo, dict)), None)
    return Section(
        "headline",
        "Headline: tuned vs defaults, and what batching bought",
        [
            Paragraph(
                f"Per stack, the highest open-loop rate whose p99 (failures counted) stays <= {ms(bound)} ms: "
                "at the stack's defaults and at the best server setting the tune stage found (the setting "
                "spelled out), and with several samples per request, where samples/s = samples per request "
                "x requests/s. With repetitions each rate is their median; the tables under "
                '"Served targets" hold the brackets, spreads and every setting and trial.',
                tone="note",
            ),
            table,
        ],
    )


def run_section(inputs: ReportInputs) -> Section:
    r = inputs.results
    blocks: list = [tables.header_table(r, inputs.environment)]
    if r.run.stages:
        blocks.append(tables.stages_table(r))
    return Section("run", "Run", blocks)


def served_section(inputs: ReportInputs) -> Section:
    r = inputs.results
    blocks: list = [
        _figure(
            "throughput",
            "Throughput and latency vs concurrency",
            plots.throughput_vs_concurrency(r),
            "throughput and latency of each served target against the number of concurrent clients",
            "no served target produced a closed-loop sweep",
        ),
        tables.served_table(r),
    ]
    if not r.served and not get(r.settings, "run", "targets"):
        blocks.append(Paragraph("No served target was configured for this run.", tone="note"))
    sweep = tables.sweep_table(r)
    if sweep.rows:
        blocks.append(
            Details(
                "Every concurrency level: the closed-loop sweep's rows",
                [
                    Paragraph(
                        "Closed-loop concurrency sweep (each client sends its next request when the last answered); "
                        "with repetitions, each figure is the median (min-max) over them, the stacks interleaved "
                        "(A B A B); p99 incl. failures counts errors as infinitely slow:",
                        tone="note",
                    ),
                    sweep,
                ],
            )
        )
    if encodings.has_dimension(r):
        blocks.append(
            Paragraph(
                "The same sweep per payload encoding ([load] encodings), on the same server; the SLO "
                "search below ran on each target's SLO encoding (the legend's last column):",
                lead="Encodings",
            )
        )
        blocks.append(encodings.encoding_table(r))
        costs = encodings.json_costs(r)
        if costs:
            blocks.append(Paragraph("What JSON costs against each stack's best encoding:", lead="JSON's cost"))
            blocks.append(Bullets(costs))
    blocks += [
        _figure(
            "slo",
            "Latency vs offered rate, with the SLO",
            plots.latency_vs_rate(r),
            "p99 latency of each SLO trial against its offered rate, with the SLO bound",
            "no served target ran the SLO search",
        ),
        Paragraph(
            "Open-loop search for the highest rate whose p99 (failures counted as infinitely slow) "
            "stays under the bound; the limit lies in the bracket [pass, fail), the rate found was run "
            "again on another arrival seed (confirmed), and with repetitions the rate is their median (min-max):",
            lead="SLO search",
        ),
        tables.slo_table(r),
    ]
    trials = tables.slo_trials_table(r)
    if trials.rows:
        blocks.append(Details("Every SLO trial", [trials]))
    blocks += workload_blocks(r)
    return Section("served", "Served targets", blocks)


def workload_blocks(r) -> list:
    """Request batch sizes and the tune stage (report/tuning.py), where the run has them."""
    from .tuning import batch_table, tuning_table, tuning_trials_table

    blocks: list = []
    batches = batch_table(r)
    if batches.rows:
        blocks += [
            _figure(
                "batch_samples",
                "Samples/s per request batch size",
                plots_stacks.batch_samples(r),
                "samples per second of each stack at each request batch size, within the SLO and at the best level",
                "no stack ran several request batch sizes",
            ),
            Paragraph(
                "The same stacks with several samples per request (one request carries a batch): "
                "throughput in samples/s, and the SLO rate in requests/s and samples/s:",
                lead="Request batch size",
            ),
            batches,
        ]
    tuned = tuning_table(r)
    if tuned.rows:
        blocks += [
            Paragraph(
                "Each stack at its defaults and at the best of a small grid of its own server settings "
                "(batching, workers, instances; servers/<stack>/), each searched under the same p99 bound: "
                "compare stacks tuned vs tuned, with the setting that got there:",
                lead="Tuned vs defaults",
            ),
            tuned,
            Details("Every setting tried", [tuning_trials_table(r)]),
        ]
    return blocks


def server_section(inputs: ReportInputs) -> Section | None:
    r = inputs.results
    if not any(s.sweep or s.cold_start for s in r.served):
        return None
    figure = _figure(
        "timeseries",
        "Per-second throughput and p99 of each concurrency level",
        plots.time_series(r),
        "per-second throughput and p99 latency of each served target over the sweep",
        "no run recorded a per-second time series",
    )
    section = server_view_section(r, figure)
    split = _figure(
        "time_split",
        "Where a request's time goes, per stack",
        plots_stacks.time_split(r),
        "each stack's mean latency split into the runtime, the stack's compute, the queue and the rest",
        "no stack has a closed-loop level every stack ran",
    )
    section.blocks.insert(0, split)
    section.blocks.insert(
        1,
        Paragraph(
            "Runtime: the in-process mean of the same artifact (server profile, the thread count nearest "
            "the server's cores); compute and queue: the stack's own metrics; rest: the client's mean minus "
            "queue and compute. All means, since the server's counters only add up.",
            tone="note",
        ),
    )
    return section


def latency_section(inputs: ReportInputs) -> Section:
    return Section(
        "latency",
        "Latency distributions",
        [
            Paragraph(
                "Percentile spectrum: the vertical axis is spaced so p90, p99 and p99.9 are equally far apart. "
                "Served curves come from the closed-loop percentiles (min, p50, p90, p95, p99, p99.9, max); "
                "in-process curves from p50, p90, p99 and max of single-request calls.",
                tone="note",
            ),
            _figure(
                "latency_by_stack",
                "Latency per stack at one load",
                plots_stacks.latency_by_stack(inputs.results),
                "latency percentiles of each served stack at the lowest concurrency they all ran",
                "no concurrency level is shared by every served stack",
            ),
            _figure(
                "latency_cdf",
                "Latency CDF per target",
                plots.latency_cdf(inputs.results),
                "latency percentiles of each served target and in-process artifact",
                "no latency was measured",
            ),
        ],
    )


def local_section(inputs: ReportInputs) -> Section:
    rows = local_rows(inputs.results)
    if not rows:
        return Section("local", "In-process benchmark", [Paragraph("No in-process results in this run.", tone="note")])
    most = max(len(bench_repetitions(r)) for r in rows)
    repeated = (
        f" Every row was measured {most} times ([run] repeat), interleaved with the served stages: "
        "figures are the median (min-max) over the repetitions."
        if most > 1
        else ""
    )
    return Section(
        "local",
        "In-process benchmark",
        [
            Paragraph(
                "Single-request latency (batch 1) and batched throughput of each artifact in its runtime; "
                "server profile = the cores given, edge profile = pinned to few cores like a phone or Pi. "
                + INVOKE_NOTE
                + repeated,
                tone="note",
            ),
            tables.bench_table(rows),
        ],
    )


def artifacts_section(inputs: ReportInputs) -> Section:
    r = inputs.results
    blocks: list = [
        tables.parity_table(r)
        if (r.artifacts or r.export_failures)
        else Paragraph("No artifact was exported in this run.", tone="warning")
    ]
    blocks.append(
        _figure(
            "tflite",
            "TFLite variants",
            plots.tflite_variants(r),
            "file size, peak memory, latency and accuracy of each TFLite variant",
            "no TFLite variant was exported",
        )
    )
    summary = quantization.selective_summary(r)
    blocks += [*([summary] if summary is not None else []), *quantization.layer_tables(r)]
    if r.export_failures:
        blocks += [Paragraph("Export failures:", lead="Failures", tone="warning"), tables.export_failures_table(r)]
    return Section("artifacts", "Exported artifacts and parity", blocks)


def settings_section(inputs: ReportInputs) -> Section:
    return Section(
        "settings",
        "Settings",
        [Code(json.dumps(inputs.results.settings, indent=2, sort_keys=True), "settings used (merged TOML)")],
    )


def edge_blocks(inputs: ReportInputs) -> Section | None:
    section = edge_section(inputs)
    png = plots_stacks.edge_latency(inputs)
    if section is not None and png:
        section.blocks.insert(
            0, Figure("edge_latency", "Edge latency per file and device", png, "p50 of each TFLite file per device")
        )
    return section


def build_document(inputs: ReportInputs) -> Document:
    r = inputs.results
    model = text(get(r.model, "name")) if r.model else "unknown model"
    details = [
        headline_section(inputs),
        verdict_section(inputs),
        served_section(inputs),
        fair_fight_section(inputs.results),
        server_section(inputs),
        latency_section(inputs),
        local_section(inputs),
        artifacts_section(inputs),
        edge_blocks(inputs),
        run_section(inputs),
        settings_section(inputs),
    ]
    sections = [first_screen(r)]
    budgets = budget_section(inputs)
    if budgets is not None:  # a gate the user asked for: pass or fail belongs on the first screen
        sections.append(budgets)
    for section in details:
        if section is not None:
            section.collapsed = True  # below the first screen, opened by whoever wants the rows
            sections.append(section)
    return Document(f"deploy-compare report: {model}, run {r.run.id} ({r.run.profile})", banner(inputs), sections)
