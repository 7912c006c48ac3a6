"""Results of load runs: plain dataclasses with units in field names, to_dict/from_dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def bound_claim(bound_ms: float, confidence: float | None) -> str:
    """ "p99 <= 50 ms at 99% confidence": what a passing SLO trial showed (the bound alone
    for records written before trials carried a confidence)."""
    text = f"p99 <= {bound_ms:g} ms"
    return text + (f" at {confidence:.0%} confidence" if confidence is not None else "")


@dataclass
class LoadResult:
    """One run (closed loop at one concurrency, or open loop at one rate)."""

    mode: str  # closed | open
    protocol: str
    url: str
    model: str
    concurrency: int | None  # closed loop
    target_rate_rps: float | None  # open loop
    arrival: str | None  # open loop: poisson | constant
    max_in_flight: int | None  # open loop
    seed: int | None
    warmup_s: float
    window_s: float  # measured wall time: end of warm-up -> last request issued
    requests: int  # issued (open loop: scheduled) after the warm-up, any outcome
    completed: int  # 2xx with a parseable body
    throughput_rps: float  # good completions inside the window / window_s
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    min_ms: float | None
    mean_ms: float | None
    p99_incl_failures_ms: float | None  # errors and drops as infinitely slow; None: unbounded
    errors: dict[str, int]  # timeout, connect, http_status, unparseable, transport
    dropped: int  # open loop: arrivals with no free connection (never sent)
    error_examples: dict[str, str]  # first message seen per error kind
    correctness_checked: int  # responses compared with the reference top-1
    correctness_agreed: int
    top1_agreement: float | None  # agreed / checked; None when nothing was checked
    client_cpu_share: float | None  # client loop-thread CPU / wall over the window
    late_share: float | None  # open loop: sends later than late_threshold_ms
    late_threshold_ms: float
    max_send_lag_ms: float | None
    client_bottleneck: bool
    bottleneck_reasons: list[str]
    min_requests_met: bool  # False: max_duration_s cut the run short
    body_bytes: int
    client_cpu_wait_share: float | None = None  # loop thread runnable but without a CPU (Linux)
    # Open loop: how late sends left (sent - scheduled). Latency counts from the schedule, so
    # this lag is inside every open-loop latency figure: event-loop timers wake in whole
    # milliseconds (uvloop/libuv, and asyncio's epoll wait), so expect p50 ~0.1-0.3 ms and
    # p99 ~1-1.5 ms (wrk2's timers have the same millisecond granularity).
    send_lag_p50_ms: float | None = None
    send_lag_p99_ms: float | None = None
    # Scale-out (clients/distributed.py): how many client processes produced this figure, where
    # each ran (node, core), its share of the load and its own self-check; shares lost to an
    # actor that died, with the reason. A single-process run has client_processes=1 and no list.
    client_processes: int = 1
    client_actors: list[dict[str, Any]] = field(default_factory=list)
    lost_shares: list[dict[str, Any]] = field(default_factory=list)
    client_info: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # Samples per request (the request batch size) and what the throughput is in samples:
    # throughput_rps x batch_size. A batch of 8 at 100 req/s serves 800 samples/s.
    batch_size: int = 1
    throughput_samples_per_s: float | None = None
    # How the requests travelled (clients.encodings.ENCODINGS: json, binary, grpc, ...) and what
    # one request and one good response weighed: message bytes (HTTP body, gRPC message),
    # framing (HTTP headers, HTTP/2 frames) excluded; means over the run's bodies / responses.
    encoding: str = "json"
    request_bytes: int | None = None
    response_bytes: int | None = None
    # Failed requests per status: "HTTP 503", "gRPC UNAVAILABLE" (errors{} counts per kind).
    status_counts: dict[str, int] = field(default_factory=dict)
    # Per-second throughput, p50, p99 and errors over the measured window (clients/timeseries.py);
    # empty for a run merged from several client processes.
    timeseries: dict[str, Any] = field(default_factory=dict)
    # The 95% intervals of the percentiles, from the same samples (statistics.latency_summary):
    # [low, high] in ms, an end the samples cannot bound None (p99 needs about 370 samples).
    p50_ci_ms: list[float | None] | None = None
    p90_ci_ms: list[float | None] | None = None
    p99_ci_ms: list[float | None] | None = None
    p99_incl_failures_ci_ms: list[float | None] | None = None
    # Why the run stopped: "precise" (closed loop: p50 and p99 intervals narrow enough),
    # "decided" (an SLO trial's sequential rule decided), "duration" (min duration and
    # requests reached), "max duration", "max requests", "schedule" (open loop: every send made).
    stop_reason: str = ""
    # Answered within [slo] p99_bound_ms, per second of the window (None: no bound given).
    goodput_rps: float | None = None
    # An SLO trial's verdict by the sequential rule (statistics.slo_trial_decision): True the
    # bound holds at slo_confidence, False it cannot within the cap, None undecided or no trial;
    # the requests (in scheduled order) and the over-bound ones it rests on.
    slo_verdict: bool | None = None
    slo_decided_after: int | None = None
    slo_over_bound: int | None = None
    slo_confidence: float | None = None
    # The server's own view of this run (servers/monitor.py ServerUsage.to_dict()): CPU, peak
    # memory, queue/compute split; None when the run was not against a server the toolkit started.
    server: dict[str, Any] | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class SloTrial:
    rate_rps: float
    passed: bool
    reason: str  # why it failed; empty when it passed
    result: LoadResult
    confirm: bool = False  # a repeat of the rate the search found (another arrival seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate_rps": self.rate_rps,
            "passed": self.passed,
            "reason": self.reason,
            "confirm": self.confirm,
            "result": self.result.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SloTrial:
        return cls(
            d["rate_rps"], d["passed"], d["reason"], LoadResult.from_dict(d["result"]), bool(d.get("confirm", False))
        )


@dataclass
class SloResult:
    """Highest open-loop rate found whose p99 (failures included) met the bound.

    The answer is the bracket [max_rate_rps, lowest_failing_rate_rps): the true limit lies in it.
    """

    p99_bound_ms: float
    max_rate_rps: float | None  # None: even the lowest rate tried failed
    lowest_failing_rate_rps: float | None  # None: no rate failed (the cap, or the trial budget, ended the search)
    limited_by_client: bool  # a failing trial was the client's fault: max_rate is a lower bound
    trials: list[SloTrial]
    note: str = ""
    confirmed: bool | None = None  # max_rate_rps passed a second trial; None: no confirmation was run
    confidence: float | None = None  # of each passing trial's "p99 <= bound" (None: older records)

    def describe(self) -> str:
        return bound_claim(self.p99_bound_ms, self.confidence)

    @property
    def best(self) -> LoadResult | None:
        ok = [t for t in self.trials if t.passed and t.rate_rps == self.max_rate_rps]
        return ok[0].result if ok else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "p99_bound_ms": self.p99_bound_ms,
            "max_rate_rps": self.max_rate_rps,
            "lowest_failing_rate_rps": self.lowest_failing_rate_rps,
            "limited_by_client": self.limited_by_client,
            "trials": [t.to_dict() for t in self.trials],
            "note": self.note,
            "confirmed": self.confirmed,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SloResult:
        return cls(
            p99_bound_ms=d["p99_bound_ms"],
            max_rate_rps=d["max_rate_rps"],
            lowest_failing_rate_rps=d["lowest_failing_rate_rps"],
            limited_by_client=d["limited_by_client"],
            trials=[SloTrial.from_dict(t) for t in d["trials"]],
            note=d.get("note", ""),
            confirmed=d.get("confirmed"),
            confidence=d.get("confidence"),
        )


def client_processes_label(result: dict[str, Any]) -> str:
    """ "1 process" or "2 actors: nodeA x1, nodeB x1 (cores 0,1); 1 lost": who produced a figure.
    Works on LoadResult.to_dict() (results.json), so renderers need no LoadResult."""
    actors = result.get("client_actors") or []
    if not actors:
        return "1 process"
    counts: dict[str, int] = {}
    names: dict[str, str] = {}  # node id -> host name
    for a in actors:
        node = str(a.get("node_id") or a.get("hostname") or "?")
        names[node] = str(a.get("hostname") or a.get("node_ip") or "?")
        counts[node] = counts.get(node, 0) + 1
    shared = {n for n in names.values() if list(names.values()).count(n) > 1}
    # Several Ray nodes on one host (a local test cluster) stay apart by their node id.
    label_of = {node: name + (f"/{node[:6]}" if name in shared else "") for node, name in names.items()}
    cores = [str(a["core"]) for a in actors if a.get("core") is not None]
    label = f"{len(actors)} actors: " + ", ".join(f"{label_of[node]} x{n}" for node, n in counts.items())
    if cores:
        label += f" (cores {','.join(cores)})"
    lost = result.get("lost_shares") or []
    return label + (f"; {len(lost)} lost" if lost else "")
