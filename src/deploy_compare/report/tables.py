"""Tables of the report, as header + string rows. Every target and every status appears."""

from __future__ import annotations

from typing import Any

from ..clients.results import bound_claim, client_processes_label
from ..deploy.results import RunResults
from ..errors import DeployCompareError
from ..repeats import Spread, bench_repetitions, ci_hull, repetition, spread_of, throughput_spread
from .document import Table
from .fmt import DASH, cores, get, getf, interval, kib, ms, num, pct, seconds, text
from .names import reference_accuracy, slo_bracket, slo_trials, sweep_repetitions, target_label
from .quantization import loss_text


def _errors(d: Any) -> str:
    errors = get(d, "errors")
    if not isinstance(errors, dict):
        return DASH
    parts = [f"{k}: {v}" for k, v in sorted(errors.items()) if v]
    return ", ".join(parts) if parts else "0"


def _flag(value: Any) -> str:
    return DASH if value is None else ("YES" if value else "no")


def _throughput_batches(rows: list[dict[str, Any]]) -> list[int]:
    sizes = set()
    for r in rows:
        for k in get(r, "throughput_samples_per_s") or {}:
            try:
                sizes.add(int(k))
            except (TypeError, ValueError):
                pass
    return sorted(sizes)


def header_table(results: RunResults, environment: dict[str, Any] | None) -> Table:
    run, model, env = results.run, results.model or {}, environment or {}
    plan = run.cores or {}
    shared = " (shared: only one core)" if plan.get("shared") else ""
    rows = [
        ["run", run.id],
        [
            "model",
            f"{text(model.get('name'))} ({text(model.get('source'))}), input {text(model.get('input_shape'))} "
            f"{text(model.get('layout'))}, {text(model.get('num_classes'))} classes",
        ],
        [
            "reference accuracy",
            f"{pct(reference_accuracy(results), 2)} (fp32 PyTorch, {text(model.get('eval_samples'))} held-out samples)",
        ],
        ["profile", run.profile],
        ["started / finished (UTC)", f"{run.started_utc} / {text(run.finished_utc)}"],
        ["wall time", seconds(run.wall_s)],
        [
            "status",
            "complete"
            if run.complete and not run.interrupted
            else ("INTERRUPTED (incomplete)" if run.interrupted else "INCOMPLETE"),
        ],
        ["cores: server / client", f"{cores(plan.get('server_cores'))} / {cores(plan.get('client_cores'))}{shared}"],
        ["command", run.command],
        *machine_rows(run.machine),
    ]
    if run.resumed:
        rows.append(
            ["resumed", "; ".join(f"{text(r.get('utc'))}: kept {len(r.get('kept', []))} stages" for r in run.resumed)]
        )
    if env:
        usable = env.get("usable_cores")
        rows += [
            [
                "CPU",
                f"{text(env.get('cpu_model'))}; usable cores {cores(usable)} "
                f"({len(usable) if isinstance(usable, list) else '?'} of {text(env.get('logical_cores'))})",
            ],
            ["memory", f"{num(env.get('memory_total_mib'))} MiB"],
            [
                "platform",
                f"{text(env.get('platform'))}, Python {text(env.get('python'))}, Java {text(env.get('java'))}",
            ],
            [
                "thread settings",
                ", ".join(f"{k}={v}" for k, v in sorted((env.get("thread_settings") or {}).items())) or "none set",
            ],
            ["git commit", text(env.get("git_commit"))],
        ]
        packages = env.get("packages")
        if isinstance(packages, dict) and packages:
            rows.append(["packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))])
        if env.get("command") and env.get("command") != run.command:
            rows.append(["environment recorded by", text(env.get("command"))])
    else:
        rows.append(["environment", "environment.json not found in the run directory"])
    return Table(["", ""], rows)


def machine_rows(machine: dict | None) -> list[list[str]]:
    """The preflight's view of the machine (deploy/preflight.py MachineCheck)."""
    if not machine:
        return []
    load = machine.get("load_average") or []
    return [
        [
            "machine before the run",
            f"load average {' / '.join(num(x) for x in load) or '-'} (1/5/15 min), CPU steal "
            f"{num(machine.get('steal_percent'))} %",
        ],
        ["busy processes seen", "; ".join(machine.get("busy") or []) or "none"],
        ["leftover servers stopped", "; ".join(machine.get("leftovers_stopped") or []) or "none"],
    ]


def stages_table(results: RunResults) -> Table:
    stages = results.run.stages
    # A served stage's record may leave the reason to its ServedResult; show it here too
    # (a repeated run names its served stages "triton 2/3").
    served_reasons = {s.key: s.reason for s in results.served if s.reason}
    return Table(
        ["stage", "status", "time", "reason / error"],
        [
            [
                s.name,
                s.status,
                seconds(s.seconds),
                text(s.reason or served_reasons.get(s.name.split(" ")[0]))
                + (f"; got as far as: {s.progress}" if s.progress else "")
                + (f"; MEASURED BESIDE BUSY PROCESSES: {'; '.join(s.busy)}" if s.busy else ""),
            ]
            for s in stages
        ],
        [s.status for s in stages],
    )


def served_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s in results.served:
        rows.append(
            [
                target_label(s),
                s.status,
                text(s.artifact),
                num(s.startup_s),
                cores(s.server_cores),
                cores(s.client_cores),
                text(s.reason),
                text(s.log),
            ]
        )
        statuses.append(s.status)
    present = {s.key for s in results.served}  # a stack may be served twice ([run] serve pairs)
    for target in _planned_keys(results):
        if target not in present:
            why = "the run ended before this target" if not results.run.complete else "no result recorded"
            rows.append([str(target), "NOT RUN", DASH, DASH, DASH, DASH, why, DASH])
            statuses.append("NOT RUN")
    return Table(
        ["target", "status", "artifact", "startup s", "server cores", "client cores", "reason / error", "log"],
        rows,
        statuses,
    )


def _spread(points: list[dict[str, Any]], key: str, fmt=ms) -> str:
    return _text_or_dash(spread_of(points, key), fmt)


def latency_cell(points: list[dict[str, Any]], key: str, samples_key: str = "completed") -> str:
    """A percentile with its 95% interval: "4.1 [3.9-4.6]" for one run; over repetitions the
    median (min-max) and the hull of their intervals (every repetition's lies within it)."""
    points = [p for p in points if isinstance(p, dict)]
    cell = _spread(points, key)
    hull = ci_hull(points, key)
    if cell == DASH or hull is None:
        return cell
    fewest = min((get(p, samples_key) for p in points if isinstance(get(p, samples_key), int)), default=None)
    return cell + interval((hull.low, hull.high), fewest, key.removesuffix("_ms"))


def _text_or_dash(spread: Spread | None, fmt) -> str:
    return DASH if spread is None else spread.text(fmt)


def _p99_with_failures(points: list[dict[str, Any]]) -> str:
    """p99 with errors and drops counted as infinitely slow: "unbounded" when over 1% failed."""
    if any(get(p, "p99_incl_failures_ms") is None and get(p, "requests") for p in points):
        bounded = [p for p in points if getf(p, "p99_incl_failures_ms") is not None]
        unbounded = len(points) - len(bounded)
        return "unbounded" + (f" in {unbounded} of {len(points)}" if len(points) > 1 else "")
    return latency_cell(points, "p99_incl_failures_ms", "requests")


def _error_total(points: list[dict[str, Any]]) -> str:
    totals: dict[str, int] = {}
    for p in points:
        errors = get(p, "errors")
        for k, v in errors.items() if isinstance(errors, dict) else []:
            if isinstance(v, int):
                totals[k] = totals.get(k, 0) + v
    if not any(isinstance(get(p, "errors"), dict) for p in points):
        return DASH
    parts = [f"{k}: {v}" for k, v in sorted(totals.items()) if v]
    return ", ".join(parts) if parts else "0"


def sweep_table(results: RunResults) -> Table:
    """One row per target and concurrency: the median over the repetitions and (min-max)."""
    rows, statuses = [], []
    for s in results.served:
        for concurrency, points in sweep_repetitions(s).items():
            bottleneck = any(get(p, "client_bottleneck") for p in points)
            reasons = "; ".join(dict.fromkeys(r for p in points for r in get(p, "bottleneck_reasons") or []))
            agree = spread_of(points, "top1_agreement")
            rows.append(
                [
                    target_label(s),
                    str(concurrency),
                    str(len(points)),
                    text(sum(get(p, "requests") or 0 for p in points)),
                    _spread(points, "throughput_rps", num),
                    _spread(points, "goodput_rps", num),
                    latency_cell(points, "p50_ms"),
                    latency_cell(points, "p90_ms"),
                    _spread(points, "p95_ms"),
                    latency_cell(points, "p99_ms"),
                    _p99_with_failures(points),
                    _spread(points, "p999_ms"),
                    _spread(points, "max_ms"),
                    _error_total(points),
                    DASH if agree is None else pct(agree.lo),
                    _flag(bottleneck if any(get(p, "client_bottleneck") is not None for p in points) else None)
                    + (f" ({reasons})" if bottleneck and reasons else ""),
                    client_processes_label(points[0]),
                ]
            )
            statuses.append("WARN" if bottleneck or any(get(p, "lost_shares") for p in points) else "OK")
    return Table(
        [
            "target",
            "concurrency",
            "repeats",
            "requests",
            "throughput req/s",
            "goodput req/s (within the SLO bound)",
            "p50 ms",
            "p90 ms",
            "p95 ms",
            "p99 ms",
            "p99 incl. failures ms",
            "p99.9 ms",
            "max ms",
            "errors",
            "top-1 agree",
            "client bottleneck",
            "load client",
        ],
        rows,
        statuses,
    )


def slo_rate(slo: Any) -> str:
    """The median rate, its (min-max) over repetitions, and "at least" when client-limited."""
    rate = getf(slo, "max_rate_rps")
    if rate is None:
        return "none"
    lo, hi = getf(slo, "rate_min_rps"), getf(slo, "rate_max_rps")
    spread = f" ({num(lo)}-{num(hi)})" if lo is not None and hi is not None and lo != hi else ""
    return ("at least " if get(slo, "limited_by_client") else "") + num(rate) + spread


def _bound(slo: Any) -> str:
    """ "p99 <= 50 ms at 99% confidence" (the bound alone for older records)."""
    bound = getf(slo, "p99_bound_ms")
    return DASH if bound is None else bound_claim(bound, getf(slo, "confidence"))


def slo_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s in results.served:
        if s.status != "OK":
            rows.append([target_label(s), DASH, DASH, DASH, DASH, DASH, DASH, DASH, f"{s.status}: {text(s.reason)}"])
            statuses.append(s.status)
            continue
        slo = s.slo
        if not isinstance(slo, dict):
            rows.append([target_label(s), DASH, DASH, DASH, DASH, DASH, DASH, DASH, "no SLO search recorded"])
            statuses.append("SKIPPED")
            continue
        confirmed = get(slo, "confirmed")
        rows.append(
            [
                target_label(s),
                _bound(slo),
                slo_rate(slo),
                slo_bracket(slo),
                text(get(slo, "repetitions") or 1),
                DASH if confirmed is None else ("yes" if confirmed else "NO"),
                _flag(get(slo, "limited_by_client")),
                str(len(slo_trials(s))),
                text(get(slo, "note")),
            ]
        )
        statuses.append("OK" if getf(slo, "max_rate_rps") is not None and confirmed is not False else "WARN")
    return Table(
        [
            "target",
            "bound each passing trial showed",
            "max rate req/s median (min-max)",
            "bracket [pass, fail) req/s",
            "repeats",
            "confirmed",
            "client-limited",
            "trials",
            "note",
        ],
        rows,
        statuses,
    )


def slo_trials_table(results: RunResults) -> Table:
    rows, statuses = [], []
    for s in results.served:
        for t in slo_trials(s):
            r = get(t, "result")
            passed = get(t, "passed")
            rows.append(
                [
                    target_label(s),
                    str(repetition(t)),
                    num(get(t, "rate_rps")) + (" (confirm)" if get(t, "confirm") else ""),
                    "pass" if passed else "FAIL",
                    latency_cell([r], "p99_incl_failures_ms", "requests")
                    if getf(r, "p99_incl_failures_ms") is not None
                    else "unbounded",
                    latency_cell([r], "p99_ms"),
                    num(get(r, "throughput_rps")),
                    pct(get(r, "late_share")),
                    text(get(r, "dropped")),
                    _errors(r),
                    text(get(t, "reason")),
                    client_processes_label(r) if isinstance(r, dict) else DASH,
                ]
            )
            statuses.append("OK" if passed else "WARN")
    return Table(
        [
            "target",
            "repetition",
            "offered req/s",
            "result",
            "p99 incl. failures ms",
            "p99 ms",
            "completed req/s",
            "late sends",
            "dropped",
            "errors",
            "why it failed",
            "load client",
        ],
        rows,
        statuses,
    )


def xnnpack_coverage(row: dict[str, Any]) -> str:
    """ "8/8", or "6/8, fallback: LSTM, ..." when some ops run on TFLite's built-in kernels."""
    took, total = get(row, "xnnpack_ops"), get(row, "total_ops")
    if took is None or total is None:
        return DASH
    fallback = get(row, "fallback_ops") or []
    return f"{took}/{total}" + (f", fallback: {', '.join(fallback)}" if fallback else "")


def _planned_keys(results: RunResults) -> list[str]:
    """The served targets the run's settings planned ([run] serve over [run] targets)."""
    from ..deploy.pairs import served_pairs

    run = get(results.settings, "run") or {}
    targets, serve = run.get("targets") or [], run.get("serve") or []
    if not isinstance(targets, list):
        return []
    try:
        return [p.key for p in served_pairs(serve, targets)]
    except DeployCompareError:  # settings of an older or foreign run: the stacks as named
        return [str(t) for t in targets]


def bench_ms(row: dict[str, Any] | None, key: str) -> str:
    """An in-process latency of a row: median (min-max) over its repetitions (names.local_rows),
    with its 95% interval."""
    return DASH if row is None else latency_cell(bench_repetitions(row), key, "iterations")


def _where(row: dict[str, Any]) -> str:
    """ "server, 2 threads" / "edge, 1 thread (core 1)": the profile, threads and pinned cores."""
    threads = get(row, "threads")
    pinned = cores(get(row, "pinned_cores"))
    return f"{text(get(row, 'profile'))}, {text(threads)} thread{'' if threads == 1 else 's'}" + (
        "" if pinned == DASH else f" (core {pinned})"
    )


def peak_rss(row: Any) -> str:
    """Peak resident memory after init / over the whole row (benchmark_model's two figures)."""
    init, overall = getf(row, "peak_rss_init_mib"), getf(row, "peak_rss_mib")
    return DASH if init is None and overall is None else f"{num(init, 1)} / {num(overall, 1)}"


def bench_table(rows: list[dict[str, Any]]) -> Table:
    """Local (in-process) or edge-device rows: one per artifact/profile/threads. A row combined
    over repetitions (names.local_rows) shows its median and (min-max) over them."""
    batches = _throughput_batches(rows)
    out, statuses = [], []
    for r in rows:
        top1 = get(r, "top1_agreement")
        reps = bench_repetitions(r)
        samples = [(b, throughput_spread(reps, b)) for b in batches]
        out.append(
            [
                text(get(r, "artifact")),
                text(get(r, "runtime")),
                _where(r),
                text(get(r, "status")),
                num(get(r, "load_ms")),
                *(bench_ms(r, key) for key in ("p50_ms", "invoke_p50_ms", "p90_ms", "p99_ms", "max_ms")),
                "; ".join(f"bs{b}: {sp.text(lambda v: num(v, 0))}" for b, sp in samples if sp is not None) or DASH,
                num(get(r, "rss_growth_mib"), 2),
                peak_rss(r),
                kib(get(r, "file_size_bytes")),
                DASH if top1 is None else f"{pct(top1)} of {text(get(r, 'samples_checked'))}",
                xnnpack_coverage(r),
                text(get(r, "reason")),
            ]
        )
        statuses.append(get(r, "status"))
    return Table(
        [
            "artifact",
            "runtime",
            "profile, threads (cores)",
            "status",
            "load ms",
            "p50 ms",
            "invoke p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "samples/s per batch size",
            "RSS growth MiB",
            "peak RSS MiB init / overall",
            "size KiB",
            "top-1 agree",
            "XNNPACK ops",
            "reason / error",
        ],
        out,
        statuses,
    )


def parity_table(results: RunResults) -> Table:
    ref = reference_accuracy(results)
    rows, statuses = [], []
    for name, e in sorted(results.artifacts.items()):
        parity = get(e, "parity")
        acc = getf(parity, "accuracy")
        base = getf(parity, "reference_accuracy")
        base = ref if base is None else base
        delta = DASH if acc is None or base is None else f"{(acc - base) * 100:+.2f}"
        passed = get(parity, "passed")
        over = get(parity, "over_budget")
        status = DASH if parity is None else ("ok" if passed else ("OVER BUDGET" if over else "FAILED"))
        max_diff = getf(parity, "max_abs_diff")
        rows.append(
            [
                name,
                text(get(e, "format")),
                text(get(e, "variant")),
                kib(get(e, "size_bytes")),
                DASH if max_diff is None else f"{max_diff:.2e}",
                pct(get(parity, "top1_agreement"), 2),
                pct(acc, 2),
                delta,
                loss_text(e),
                status,
                "; ".join(get(parity, "failures") or []) or DASH,
            ]
        )
        statuses.append("OK" if passed else ("SKIPPED" if over else ("FAILED" if parity is not None else None)))
    for name, why in sorted(results.export_failures.items()):
        if name not in results.artifacts:
            rows.append([name, DASH, DASH, DASH, DASH, DASH, DASH, DASH, DASH, "FAILED", why])
            statuses.append("FAILED")
    return Table(
        [
            "artifact",
            "format",
            "variant",
            "size KiB",
            "max |diff|",
            "top-1 agree",
            "accuracy",
            "vs fp32 points",
            "loss (paired 95% interval)",
            "parity",
            "failures",
        ],
        rows,
        statuses,
    )


def export_failures_table(results: RunResults) -> Table:
    items = sorted(results.export_failures.items())
    return Table(["artifact", "why"], [[k, v] for k, v in items], ["FAILED"] * len(items))
