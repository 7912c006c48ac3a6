"""results.json: the source of truth of a run. CSV, Markdown and HTML are views of it.

Each area contributes its own result dictionaries (bench_local.BenchResult.to_dict(),
clients' LoadResult / SloResult .to_dict()); this module only frames them into one
document with a schema version, and says which stages ran, failed, or were skipped.
The JSON Schema is generated from these dataclasses (record_schema.py): adding a field
means adding it here (with a default, so older results.json files still validate).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ..fileio import write_json_atomic

RESULTS_SCHEMA_VERSION = 1
RESULTS_NAME = "results.json"
STATUSES = ("OK", "SKIPPED", "FAILED", "INTERRUPTED")
_STATUS = {"schema": {"enum": list(STATUSES)}}
#: a SKIPPED or FAILED record says why (a rule of the generated schema)
_REASON_RULES = (
    {
        "if": {"properties": {"status": {"enum": ["SKIPPED", "FAILED"]}}},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}},
    },
)


@dataclass
class StageRecord:
    name: str  # export, local, <each served target>, report
    status: str = field(metadata=_STATUS)
    seconds: float = 0.0
    reason: str | None = None
    # INTERRUPTED: how far the stage got before it was cut off (what it had measured)
    progress: str | None = None
    # [run] busy_machine = "warn": the processes busy beside this stage (deploy/preflight.py)
    busy: list[str] = field(default_factory=list)


@dataclass
class ServedResult:
    """One served target: a server stack + the load client against it."""

    SCHEMA_RULES = _REASON_RULES

    target: str  # a serving stack's registry name (servers/registry.py); schema(): the registry's names
    status: str = field(metadata=_STATUS)
    reason: str | None = None
    mode: str | None = None  # docker | native
    artifact: str | None = None  # the manifest artifact the server serves
    startup_s: float | None = None  # start to healthy, median over the repetitions (Docker: no image build)
    image: str | None = None  # Docker: the image served
    # Docker: the first repetition's build (later ones find the content-addressed tag: ~0)
    image_build_s: float | None = None
    versions: dict[str, Any] | None = None  # {"server": runtime in the server, "exporter": what wrote the artifact}
    server_cores: list[int] | None = None
    client_cores: list[int] | None = None
    server_config: dict[str, Any] = field(default_factory=dict)
    # What the running server applied (servers/<stack>/effective.py): TorchServe worker torch threads and
    # its handler's optimizations, ONNX Runtime intra-op threads, Triton instances, TF Serving
    # session threads, uvicorn workers; {} for an older file or a stack that states none.
    effective_settings: dict[str, Any] = field(default_factory=dict)
    # Closed loop: one LoadResult dict per concurrency and repetition (its "repetition" key, 1..repeat).
    sweep: list[dict[str, Any]] = field(default_factory=list)
    # Open-loop SLO search over every repetition (repeats.combine_slo): median rate, spread, all trials.
    slo: dict[str, Any] | None = None
    slo_repeats: list[dict[str, Any]] = field(default_factory=list)  # each repetition's SloResult, no trials
    repeat: int = 1  # repetitions planned ([run] repeat); the stack was started once per repetition
    log: str | None = None  # server log, relative to the run directory
    log_tail: str | None = None  # FAILED: the server log's last lines when it failed
    # Where the load client ran: {"client_processes": N, "ray_address": ...} (clients.distributed.ScaleOut);
    # each sweep point / SLO trial also lists its actors and their nodes (LoadResult.client_actors).
    load_client: dict[str, Any] | None = None
    # Request batch sizes after the first of [load] batch_sizes (the first fills sweep/slo):
    # [{"batch_size": 8, "repetition": 1, "sweep": [LoadResult dicts], "slo": SloResult dict,
    #   "status": "OK" | "FAILED" (the server refused the size), "reason": str | None,
    #   "slo_start_rate_rps", "slo_start_from": where its search started and why}, ...]
    batches: list[dict[str, Any]] = field(default_factory=list)
    # The tune stage (deploy/tune.py): the stack at its defaults and at each setting of its
    # grid under the same SLO, and the best setting found; None when tuning did not run.
    tuning: dict[str, Any] | None = None
    # [load] encodings: `sweep` and `slo` used `encoding`; every other encoding asked for is one
    # entry {"encoding", "status": OK|SKIPPED|FAILED, "reason", "protocol", "sweep": [LoadResult...]}.
    encoding: str | None = None
    encodings: list[dict[str, Any]] = field(default_factory=list)
    # Launch -> first successful inference, the first requests' latency (deploy/coldstart.py ColdStart):
    # the first repetition's; cold_start_repeats has every repetition's (its "repetition" key).
    cold_start: dict[str, Any] | None = None
    cold_start_repeats: list[dict[str, Any]] = field(default_factory=list)
    # Highest resident memory of the server's process tree (or container) over every measured
    # run; each run's own figure is in its LoadResult.server (servers/monitor.py ServerUsage).
    peak_rss_mib: float | None = None
    # At concurrency 1, the first batch size: the in-process p50 of the same artifact at the same
    # threads, the server's queue and compute, and the rest (deploy/split.py ServedSplit.to_dict());
    # None: a piece is missing (no in-process row at its threads, no concurrency-1 point).
    split: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """Its name among the served targets: the stack, or "stack:artifact" when it served
        another artifact than its own (deploy/pairs.py; derived, not stored)."""
        from .pairs import pair_key

        return pair_key(self.target, self.artifact)


@dataclass
class RunInfo:
    id: str
    profile: str = field(metadata={"schema": {"enum": ["full", "quick", "thorough"]}})
    started_utc: str
    command: str
    finished_utc: str | None = None
    wall_s: float | None = None
    complete: bool = False
    interrupted: bool = False
    cores: dict[str, Any] = field(default_factory=dict)  # affinity.CorePlan.to_dict()
    stages: list[StageRecord] = field(default_factory=list)
    # the preflight (deploy/preflight.py MachineCheck): load average, CPU steal, busy processes,
    # leftover servers of earlier runs it stopped
    machine: dict[str, Any] | None = None
    # `run --resume`: one entry per resumption {"utc", "kept": [stage names], "rerun": [stage names]}
    resumed: list[dict[str, Any]] = field(default_factory=list)
    # the process running it now (pid, its start time): a resume refuses a run still going
    pid: int | None = None
    pid_started: float | None = None


@dataclass
class RunResults:
    run: RunInfo
    settings: dict[str, Any]
    model: dict[str, Any] | None = None  # manifest "model"
    artifacts: dict[str, Any] = field(default_factory=dict)  # manifest "artifacts" (incl. parity)
    export_failures: dict[str, str] = field(default_factory=dict)
    # BenchResult dicts: their own schema (bench_local/schema.py) checks them where they are
    # written; here any object, so an older run's rows still render (as dashes where absent)
    local: list[dict[str, Any]] = field(default_factory=list)
    served: list[ServedResult] = field(default_factory=list)
    edge: list[dict[str, Any]] = field(default_factory=list)  # ingested edge-device BenchResult dicts
    schema_version: int = field(
        default=RESULTS_SCHEMA_VERSION, metadata={"required": True, "schema": {"const": RESULTS_SCHEMA_VERSION}}
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResults:
        if d.get("schema_version") != RESULTS_SCHEMA_VERSION:
            raise ManifestError(
                f"results schema_version {d.get('schema_version')!r} is not supported "
                f"(expected {RESULTS_SCHEMA_VERSION})"
            )
        # Generic over the fields: a field added to a record needs no line here.
        d = dict(d)
        run = dict(d.pop("run"))
        run["stages"] = [StageRecord(**s) for s in run.get("stages", [])]
        d["served"] = [ServedResult(**s) for s in d.get("served", [])]
        return cls(run=RunInfo(**run), **d)

    def write(self, run_dir: Path) -> Path:
        path = Path(run_dir) / RESULTS_NAME
        write_json_atomic(path, self.to_dict())
        return path


def schema() -> dict[str, Any]:
    """The JSON Schema of results.json, generated from RunResults; the served targets are the
    stack registry's names."""
    from ..record_schema import document_schema
    from ..servers.registry import names

    doc = document_schema("deploy-compare results.json", RunResults)
    doc["properties"]["served"]["items"]["properties"]["target"]["enum"] = list(names())
    return doc


def validate(document: dict[str, Any]) -> None:
    """Validate a results document against the schema (raises ManifestError)."""
    import jsonschema

    try:
        jsonschema.validate(document, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise ManifestError(f"results.json invalid at {where}: {exc.message}") from None


def load_results(run_dir: Path) -> RunResults:
    path = Path(run_dir) / RESULTS_NAME
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: not found (is {run_dir} a run directory?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    validate(document)
    return RunResults.from_dict(document)


if __name__ == "__main__":  # the schema for other tools: python -m deploy_compare.deploy.results
    print(json.dumps(schema(), indent=2))
