"""Raw records -> LoadResult: parse bodies, classify, check correctness, run the stats."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ProtocolError
from ..statistics import (
    SendLag,
    goodput_per_s,
    including_failures_interval_ms,
    latency_summary,
    percentile_including_failures_ms,
    rate_per_s,
    send_lag,
    slo_trial_decision,
)
from .config import Endpoint, LoadConfig
from .encodings import encoding_for, error_message
from .payload import Payloads
from .records import DROPPED, ERROR_KINDS, GRPC_STATUS, HTTP_STATUS, KIND_NAMES, OK, UNPARSEABLE, RawRun
from .results import LoadResult
from .selfcheck import bottleneck_reasons, client_info
from .timeseries import per_second

# gRPC status code numbers -> names (grpc.StatusCode), so analysing needs no grpcio.
GRPC_CODE_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


def status_label(kind: int, status: int) -> str | None:
    """ "HTTP 503" / "gRPC UNAVAILABLE" for a failed request that carries a status, else None."""
    if kind == HTTP_STATUS:
        return f"HTTP {status}"
    if kind == GRPC_STATUS:
        return "gRPC " + (GRPC_CODE_NAMES[status] if 0 <= status < len(GRPC_CODE_NAMES) else str(status))
    return None


def _grpc_text(body: bytes | str) -> str:
    """The message of a recorded GrpcStatusError (stored as its repr)."""
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    if text.startswith("GrpcStatusError(") and text.endswith(")"):
        text = text[len("GrpcStatusError(") : -1].strip("'\"")
    return text


def check_top1(parsed: list[tuple[int, np.ndarray]], payloads: Payloads, every: int) -> tuple[int, int]:
    """(checked, agreed): top-1 of 1 in `every` good responses vs the reference top-1.

    The subset is drawn at random (fixed seed), not every k-th in order: the loops cycle
    through the payloads, so a fixed stride could check the same few samples every time.
    """
    expected = payloads.expected_top1
    if expected is None or not parsed:
        return 0, 0
    if every == 1:
        chosen = np.arange(len(parsed))
    else:
        size = -(-len(parsed) // every)
        chosen = np.sort(np.random.default_rng(0).choice(len(parsed), size=size, replace=False))
    agreed = 0
    for i in chosen:
        sample, preds = parsed[i]
        if preds.shape[0] == payloads.batch_size:
            got = preds.reshape(payloads.batch_size, -1).argmax(axis=1)
            agreed += int(np.array_equal(got, expected[sample]))
    return len(chosen), agreed


class MeasuredSamples(NamedTuple):
    """The raw numbers behind one LoadResult's percentiles, for an exact merge of several
    runs (clients/distributed.py): every good latency and every send lag, in ns."""

    latencies_ns: np.ndarray  # done - scheduled of each good response in the measured window
    send_lag_ns: np.ndarray  # open loop: sent - scheduled of each request that went out
    failed: int  # errors + drops in the measured window (infinitely slow for p99_incl_failures)


def analyze(run: RawRun, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, mode: str) -> LoadResult:
    return analyze_with_samples(run, endpoint, payloads, config, mode)[0]


class _Responses(NamedTuple):
    kinds: np.ndarray  # each measured record's kind; an OK body that does not parse: UNPARSEABLE
    examples: dict[str, str]  # one example message per error kind (per gRPC status)
    parsed: list[tuple[int, np.ndarray]]  # (payload index, predictions) of good responses
    status_counts: dict[str, int]  # "HTTP 503" / "gRPC UNAVAILABLE" -> failed requests
    received: list[int]  # response body bytes of good responses


def _responses(measured: list, adapter: Any, payloads: Payloads) -> _Responses:
    """Every 2xx body parsed (after the run, so parsing is never timed): a body that does not
    parse is an error, not a success; the failures counted by status, one example of each."""
    out = _Responses(np.array([r[3] for r in measured], dtype=np.int64), {}, [], {}, [])
    for idx, rec in enumerate(measured):
        kind = rec[3]
        if kind == OK:
            body = rec[6]
            assert isinstance(body, bytes), "an OK record carries the response body"
            out.received.append(len(body))
            try:
                out.parsed.append((rec[4], adapter.parse_response(rec[5], body, payloads.batch_size)))
            except ProtocolError as exc:
                out.kinds[idx] = UNPARSEABLE
                out.examples.setdefault("unparseable", str(exc)[:300])
        elif kind != DROPPED:
            name = KIND_NAMES[kind]
            label = status_label(kind, rec[5])
            if label is not None:
                out.status_counts[label] = out.status_counts.get(label, 0) + 1
            if kind == GRPC_STATUS:
                name = label or name  # one example per gRPC status: "gRPC UNAVAILABLE"
            if name not in out.examples:
                out.examples[name] = _example(kind, rec[5], rec[6])
    return out


def _example(kind: int, status: int, body: bytes | str) -> str:
    if kind == GRPC_STATUS:
        text = _grpc_text(body)
    else:
        text = body if isinstance(body, str) else error_message(body)
    return (f"HTTP {status}: " if kind == HTTP_STATUS else "") + text[:300]


def _open_loop_fields(config: LoadConfig, mode: str) -> dict[str, Any]:
    """The LoadResult fields only an open loop has (None for a closed one)."""
    open_loop = mode == "open"
    return {
        "target_rate_rps": config.rate_rps if open_loop else None,
        "arrival": config.arrival if open_loop else None,
        "max_in_flight": config.max_in_flight if open_loop else None,
        "seed": config.seed if open_loop else None,
    }


def _slo_fields(
    config: LoadConfig, sched: np.ndarray, done: np.ndarray, ok: np.ndarray, in_window: np.ndarray, window_ns: int
) -> dict[str, Any]:
    """Goodput against the bound (good answers within it, counted as throughput is), and an
    SLO trial's verdict replayed in scheduled order through the rule its loop stopped by."""
    if config.slo_bound_ms is None:
        return {}
    fields: dict[str, Any] = {
        "goodput_rps": goodput_per_s((done - sched)[ok & in_window], config.slo_bound_ms, window_ns)
    }
    if config.sequential:
        order = np.argsort(sched, kind="stable")
        decision = slo_trial_decision((done - sched)[order], ok[order], config.slo_bound_ms, config.trial_rule())
        fields.update(
            slo_verdict=decision.verdict,
            slo_decided_after=decision.requests,
            slo_over_bound=decision.over,
            slo_confidence=config.slo_confidence,
        )
    return fields


def analyze_with_samples(
    run: RawRun, endpoint: Endpoint, payloads: Payloads, config: LoadConfig, mode: str
) -> tuple[LoadResult, MeasuredSamples]:
    adapter = encoding_for(endpoint)
    measured = [r for r in run.records if r[0] >= run.measure_start_ns]
    kinds, examples, parsed, status_counts, received = _responses(measured, adapter, payloads)
    checked, agreed = check_top1(parsed, payloads, config.sample_every)

    sched = np.array([r[0] for r in measured], dtype=np.int64)
    sent = np.array([r[1] for r in measured], dtype=np.int64)
    done = np.array([r[2] for r in measured], dtype=np.int64)
    ok = kinds == OK
    latencies = done[ok] - sched[ok]
    dropped = int(np.count_nonzero(kinds == DROPPED))
    errors = {name: int(np.count_nonzero(kinds == code)) for code, name in KIND_NAMES.items() if name in ERROR_KINDS}
    errors = {name: errors.get(name, 0) for name in ERROR_KINDS}
    n_failed = len(measured) - int(ok.sum())

    went = kinds != DROPPED
    # Throughput: good completions inside [end of warm-up, stop] per second. Requests still
    # in flight at either edge are left out at both ends, so the two biases cancel.
    window_ns = max(run.stop_ns - run.measure_start_ns, 0)
    in_window = done <= run.stop_ns
    completed_in_window = int(np.count_nonzero(ok & in_window))
    lag = SendLag(None, None, None, None)
    if mode == "open":
        lag = send_lag(sched[went], sent[went], config.late_threshold_ms * 1e6)
    cpu_share = run.cpu_measure_ns / window_ns if window_ns > 0 else None
    wait_share = run.wait_measure_ns / window_ns if window_ns > 0 and run.wait_measure_ns is not None else None
    reasons = bottleneck_reasons(cpu_share, lag.late_share, config, wait_share)
    summary: dict[str, Any] = latency_summary(latencies).figures_ms()
    samples = MeasuredSamples(
        latencies_ns=latencies,
        send_lag_ns=(sent[went] - sched[went]) if mode == "open" else np.zeros(0, dtype=np.int64),
        failed=n_failed,
    )
    result = LoadResult(
        mode=mode,
        protocol=endpoint.encoding,
        url=adapter.url,
        model=endpoint.model,
        concurrency=config.concurrency if mode == "closed" else None,
        **_open_loop_fields(config, mode),
        warmup_s=config.warmup_s,
        window_s=window_ns / 1e9,
        requests=len(measured),
        completed=int(ok.sum()),
        throughput_rps=rate_per_s(completed_in_window, window_ns),
        batch_size=payloads.batch_size,
        throughput_samples_per_s=rate_per_s(completed_in_window, window_ns) * payloads.batch_size,
        **summary,
        p99_incl_failures_ms=percentile_including_failures_ms(latencies, n_failed, 99.0),
        p99_incl_failures_ci_ms=including_failures_interval_ms(latencies, n_failed, 99.0),
        stop_reason=run.stop_reason,
        **_slo_fields(config, sched, done, ok, in_window, window_ns),
        errors=errors,
        dropped=dropped,
        error_examples=examples,
        correctness_checked=checked,
        correctness_agreed=agreed,
        top1_agreement=(agreed / checked) if checked else None,
        client_cpu_share=cpu_share,
        client_cpu_wait_share=wait_share,
        late_share=lag.late_share,
        late_threshold_ms=config.late_threshold_ms,
        max_send_lag_ms=lag.max_ms,
        send_lag_p50_ms=lag.p50_ms,
        send_lag_p99_ms=lag.p99_ms,
        client_bottleneck=bool(reasons),
        bottleneck_reasons=reasons,
        min_requests_met=(not run.stopped_by_cap) and len(measured) >= config.min_requests,
        body_bytes=payloads.body_bytes,
        encoding=payloads.encoding,
        request_bytes=payloads.body_bytes,
        response_bytes=int(np.mean(received)) if received else None,
        status_counts=status_counts,
        client_info={**client_info(), "event_loop": run.event_loop or "unknown"},
        config=config.to_dict(),
        timeseries=per_second(sched, done, ok, run.measure_start_ns, max(run.end_ns, run.stop_ns)),
    )
    return result, samples
