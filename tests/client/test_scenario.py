"""The measurement scenario (deploy/scenario.py) against a REAL local HTTP server: the events
fire in the plan's order, a batch size the server refuses fails alone, an encoding that fails
leaves the others, the served stage's record (deploy/record.py) files each piece where it
belongs, and a listener that raises stops the scenario."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deploy_compare.clients import Endpoint, LoadConfig, SloConfig, build_payloads
from deploy_compare.deploy.record import ServedRecord
from deploy_compare.deploy.results import ServedResult
from deploy_compare.deploy.scenario import EVENTS, EncodingPlan, Events, Runs, Scenario, ScenarioSettings
from deploy_compare.errors import ServerError

pytestmark = [pytest.mark.client, pytest.mark.timeout(120)]

RUN = LoadConfig(warmup_s=0.0, duration_s=0.3, min_requests=5, timeout_s=5.0)
# max_duration_s: trials are not stretched to what a clean pass needs; the plan's order is under test
SLO = SloConfig(
    p99_bound_ms=200.0, start_rate_rps=40.0, max_trials=2, pause_s=0.05, confirm_trials=0, max_duration_s=0.3
)
PLAN_EVENTS = [e for e in EVENTS if not e.startswith(("run_", "measuring_"))]


def _payloads(endpoint: Endpoint, batch_size: int):
    """Eight samples the test app (conftest.py) answers at once as their label, except batch
    2's, which it refuses with HTTP 413 (mode 5: the second value of each sample)."""
    x = np.zeros((8, 1, 8, 8), dtype=np.float32)
    x[:, 0, 0, 1] = 5 if batch_size == 2 else 0
    x[:, 0, 0, 2] = labels = np.arange(8) % 10
    return build_payloads(endpoint, x, np.eye(10, dtype=np.float32)[labels], batch_size=batch_size)


def _scenario(url: str, events: Events) -> tuple[Scenario, list[EncodingPlan]]:
    from deploy_compare.clients import run_closed_loop, run_open_loop

    ep = Endpoint(url=url, encoding="torchserve", model="digits")
    plans = [
        EncodingPlan("json", ep, None),
        EncodingPlan("grpc", None, "this launcher opens no gRPC port"),
        EncodingPlan("other", dataclasses.replace(ep, model="no-such-model"), None),  # HTTP 404
    ]
    settings = ScenarioSettings(
        closed=RUN, open_loop=RUN, slo=SLO, batch_sizes=(1, 2, 4), levels=(1,), batch_levels=(1,), other_levels=(1,)
    )
    runs = Runs(closed=run_closed_loop, open=run_open_loop)
    return Scenario(plans, _payloads, settings, runs, events, name="the test app"), plans


def test_events_fire_in_plan_order_and_each_failure_stays_where_it_happened(asgi_server):
    fired: list[tuple[str, dict]] = []
    events = Events()
    for name in EVENTS:
        events.on(name, lambda name=name, **kw: fired.append((name, kw)))
    result = ServedResult(target="fastapi_onnx", status="OK")
    saves: list[int] = []
    scenario, plans = _scenario(asgi_server.url, events)
    events.add(ServedRecord(result, lambda: saves.append(1), 1, plans))
    scenario.run()

    plan = [(n, kw.get("at")) for n, kw in fired if n in PLAN_EVENTS]
    names = [n for n, _ in plan]
    assert names[:2] == ["encoding_skipped", "encoding_started"]
    where = [(n, at.encoding, at.batch_size) for n, at in plan if at is not None]
    # batch 1: a level, then the search; batch 2: refused (413) at its first request; batch 4 runs
    assert where[:4] == [
        ("encoding_started", "json", 1),
        ("batch_started", "json", 1),
        ("level_started", "json", 1),
        ("level_finished", "json", 1),
    ]
    assert ("batch_failed", "json", 2) in where and ("search_finished", "json", 4) in where
    assert where.index(("batch_failed", "json", 2)) < where.index(("batch_started", "json", 4))
    assert where[-1] == ("encoding_failed", "other", 1)
    assert "search_started" in names and "trial_finished" in names
    # every load run is bracketed: started, then finished or failed
    runs = [n for n, _ in fired if n in ("run_started", "run_finished", "run_failed")]
    assert runs.count("run_started") == runs.count("run_finished") + runs.count("run_failed") > 3
    assert runs.count("run_failed") == 2  # batch 2's level and the other encoding's level

    assert result.encoding == "json" and result.sweep[0]["concurrency"] == 1
    assert result.slo is not None and result.slo["trials"]
    assert [(b["batch_size"], b["status"]) for b in result.batches] == [(2, "FAILED"), (4, "OK")]
    assert "HTTP 413" in result.batches[0]["reason"] and result.batches[1]["slo"] is not None
    assert [(c["encoding"], c["status"]) for c in result.encodings] == [("grpc", "SKIPPED"), ("other", "FAILED")]
    assert len(saves) >= 5  # saved as each piece landed, not once at the end


def test_a_listener_that_raises_stops_the_scenario(asgi_server):
    fired: list[str] = []
    events = Events()

    def server_gone(at, result):
        raise ServerError("the server process exited during the run")

    events.on("level_finished", server_gone)
    events.on("search_started", lambda **_: fired.append("search_started"))
    scenario, _ = _scenario(asgi_server.url, events)
    with pytest.raises(ServerError, match="exited"):
        scenario.run()
    assert fired == []


def test_an_unknown_event_name_is_refused():
    from deploy_compare.errors import ConfigError

    with pytest.raises(ConfigError, match="no scenario event 'level_done'"):
        Events().on("level_done", print)


def test_slo_encoding_best_sweeps_each_then_searches_the_fastest(asgi_server):
    """ "best": each encoding's sweep first, then the levels and the search on the one with the
    highest throughput; its first sweep gives way to the full one in the record."""
    from deploy_compare.clients import run_closed_loop, run_open_loop

    def payloads(endpoint: Endpoint, batch_size: int):
        built = _payloads(endpoint, batch_size)
        if endpoint.model != "digits":  # the "slow" encoding: same route, each answer 30 ms late
            x = np.zeros((8, 1, 8, 8), dtype=np.float32)
            x[:, 0, 0, 0] = 30.0
            x[:, 0, 0, 2] = labels = np.arange(8) % 10
            endpoint = dataclasses.replace(endpoint, model="digits")
            built = build_payloads(endpoint, x, np.eye(10, dtype=np.float32)[labels], batch_size=batch_size)
        return built

    fast = Endpoint(url=asgi_server.url, encoding="torchserve", model="digits")
    slow = dataclasses.replace(fast, model="digits-slow")
    plans = [EncodingPlan("slow", slow, None), EncodingPlan("fast", fast, None)]
    settings = ScenarioSettings(closed=RUN, open_loop=RUN, slo=SLO, levels=(1,), other_levels=(2,), slo_encoding="best")
    chosen: list[tuple[str, dict]] = []
    events = Events()
    events.on("encoding_chosen", lambda encoding, peaks: chosen.append((encoding, peaks)))
    result = ServedResult(target="fastapi_onnx", status="OK")
    events.add(ServedRecord(result, lambda: None, 1, plans))
    runs = Runs(closed=run_closed_loop, open=run_open_loop)
    Scenario(plans, payloads, settings, runs, events, name="the test app").run()

    assert [name for name, _ in chosen] == ["fast"]
    assert chosen[0][1]["fast"] > 2 * chosen[0][1]["slow"] > 0, chosen
    assert result.encoding == "fast" and [p["concurrency"] for p in result.sweep] == [1]
    assert result.slo is not None and result.slo["trials"]
    assert [(c["encoding"], [p["concurrency"] for p in c["sweep"]]) for c in result.encodings] == [("slow", [2])]
