"""[load] batch_sizes and [tune] settings: validated before any work, grids checked against each
stack's own knobs (servers/<stack>/__init__.py); the best setting and the report's tables."""

from __future__ import annotations

import pytest

from deploy_compare.deploy.budget import served_seconds, time_left
from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.results import RunInfo, RunResults, ServedResult
from deploy_compare.deploy.tune import best_of, grid_for, setting_label, tune_settings, variant
from deploy_compare.errors import ConfigError
from deploy_compare.report.tuning import batch_table, tuning_table
from deploy_compare.servers.registry import stacks

pytestmark = pytest.mark.unit


def config_with(**tables):
    return load_run_config(overrides=tables)


def test_every_stack_declares_its_knobs_and_its_grid_is_valid():
    for stack in stacks().values():
        for setting in stack.tune_grid:
            assert set(setting) <= set(stack.tunables), (stack.name, setting)
    config = load_run_config(overrides={"tune": {"enabled": True}})  # the default leaves tuning to --thorough
    settings = tune_settings(config)  # builds every grid setting over its stack's table
    assert settings.enabled and settings.batch_size == 1
    assert not tune_settings(load_run_config()).enabled and tune_settings(load_run_config(thorough=True)).enabled
    assert grid_for("torchserve", config, settings)[0] == {"batch_size": 8, "max_batch_delay_ms": 5}
    assert grid_for("fastapi_litert", config, settings) == []  # fixed: 1 worker, 1 thread, 1 core
    assert config.batch_sizes() == [1, 8]


@pytest.mark.parametrize(
    ("tune", "message"),
    [
        ({"grids": {"nosuch": [{"workers": 2}]}}, "unknown stack 'nosuch'"),
        ({"grids": {"torchserve": [{"java_heap_mb": 512}]}}, "java_heap_mb cannot be tuned"),
        ({"grids": {"torchserve": [{"workers": 0}]}}, "workers must be an integer >= 1"),
        ({"grids": {"triton": [{"preferred_batch_sizes": [64]}]}}, "above max_batch_size"),
        ({"grids": {"torchserve": [{}]}}, "empty setting is the defaults"),
        ({"grids": {"torchserve": {"workers": 2}}}, "a list of settings"),
        ({"grids": {"fastapi_litert": [{"workers": 2}]}}, "no tunable settings"),
        ({"max_settings": 0}, "max_settings must be an integer >= 1"),
        ({"nosuch": 1}, "unknown key(s) nosuch"),
    ],
)
def test_bad_grids_are_refused_before_any_work(tune, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        tune_settings(config_with(tune=tune))  # the pipeline runs it beside validate(), before any work


@pytest.mark.parametrize("sizes", [[], [0], [1, 1], "8", [1.5]])
def test_bad_batch_sizes_are_refused(sizes):
    with pytest.raises(ConfigError, match="batch_sizes"):
        config_with(load={"batch_sizes": sizes}).validate()


def test_a_variant_changes_only_the_stack_table_and_the_batch_size():
    config = config_with(tune={"grids": {"torchserve": [{"workers": 2}]}})
    v = variant(config, "torchserve", {"workers": 2}, 8)
    assert v.section("torchserve")["workers"] == 2 and v.batch_sizes() == [8]
    assert config.section("torchserve")["workers"] == 1 and config.batch_sizes() == [1, 8]
    several = config_with(load={"encodings": ["json", "binary"]})
    assert variant(several, "triton", {}, 1).encodings() == ("json",)  # a trial: one SLO search, no sweeps
    assert variant(several, "triton", {}, 1, "binary").encodings() == ("binary",)
    assert setting_label({"workers": 2, "dynamic_batching": False, "preferred_batch_sizes": [4, 8]}) == (
        "workers=2, dynamic_batching=false, preferred_batch_sizes=[4,8]"
    )


def test_the_best_setting_is_the_highest_passing_rate_and_the_defaults_win_a_tie():
    default = {"setting": {}, "label": "defaults", "max_rate_rps": 100.0, "max_rate_samples_per_s": 100.0}

    def trial(setting, rate, status="OK"):
        return {"setting": setting, "label": setting_label(setting), "max_rate_rps": rate,
                "max_rate_samples_per_s": rate, "status": status}  # fmt: skip

    best = best_of(
        {"default": default, "trials": [trial({"workers": 2}, 150.0), trial({"workers": 4}, 900.0, "FAILED")]}
    )
    assert best["label"] == "workers=2" and best["gain_vs_default"] == pytest.approx(1.5)
    assert best_of({"default": default, "trials": [trial({"workers": 2}, 100.0)]})["label"] == "defaults"
    assert best_of({"default": {**default, "max_rate_rps": None}, "trials": [trial({"workers": 2}, None)]}) is None


def test_the_time_left_estimate_counts_batch_sizes_and_tuning():
    # The default profile with tuning on, one encoding: a level from its 4 s minimum to its 8 s
    # cap (precision): 6 s; a trial stops when decided, counted at its warm-up + half its 8 s cap
    # + the pause: 5.5 s, each search 5 + 1 confirming trials; batch 8: concurrency 1 and its
    # search; 1 tuning setting: start, concurrency 1 and its search.
    json_only = {"encodings": ["json"]}
    config = load_run_config(overrides={"tune": {"enabled": True}, "load": json_only})
    level, search = 6.0, 6 * 5.5
    batch8 = level + search
    main = 8 + 3 * level + search + batch8
    assert served_seconds(config, "fastapi_onnx") == pytest.approx(main + 8 + level + search)
    assert served_seconds(config, "fastapi_litert") == pytest.approx(main)  # nothing to tune
    assert served_seconds(config, "fastapi_onnx", tuning=False) == pytest.approx(main)
    # Further encodings: the lowest and highest level each. "first": one more encoding, one more
    # such sweep; "best" (the default): every encoding's first, then the chosen one's full levels.
    two_first = load_run_config(overrides={"load": {"encodings": ["json", "binary"], "slo_encoding": "first"}})
    assert served_seconds(two_first, "fastapi_litert") == pytest.approx(main + 2 * level)
    assert served_seconds(load_run_config(), "fastapi_onnx") == pytest.approx(main + 3 * 2 * level)
    quick = load_run_config(quick=True, overrides={"load": json_only})
    assert served_seconds(quick, "fastapi_onnx") == pytest.approx(8 + 2 * 3.75 + 4 * 4.0)  # batch 1, no tuning
    assert "min left" in time_left(quick, ["local", "torchserve", "triton"])
    assert time_left(quick, ["export", "local"]) == ""


def test_the_time_left_estimate_follows_the_pace_of_the_served_stages_done():
    config = load_run_config(overrides={"load": {"encodings": ["json"]}, "run": {"targets": ["torchserve", "triton"]}})
    triton = served_seconds(config, "triton")
    assert (
        time_left(config, ["triton"]) == f"served stages: about {triton / 60:.0f} min left, estimated from the settings"
    )
    # TorchServe took twice its estimate (a big model's stretched trials): Triton's is doubled
    done = {"export": 600.0, "local": 300.0, "torchserve": 2 * served_seconds(config, "torchserve")}
    assert time_left(config, ["triton"], served_done=done) == (
        f"served stages: about {2 * triton / 60:.0f} min left, "
        "estimated from the settings x2.0, the pace of the 1 served stage(s) done"
    )
    # A stack turned away early (its one-request p99 over the bound) does not shrink the others'
    early = {"torchserve": 0.1 * served_seconds(config, "torchserve")}
    assert time_left(config, ["triton"], served_done=early) == time_left(config, ["triton"])


def test_the_time_left_estimate_counts_every_repetition_left_and_tunes_once():
    config = load_run_config(quick=True, overrides={"run": {"repeat": 3, "targets": ["fastapi_onnx"]}})
    once = served_seconds(config, "fastapi_onnx", tuning=False)
    first = served_seconds(config, "fastapi_onnx")
    assert time_left(config, ["fastapi_onnx 1/3", "fastapi_onnx 2/3", "fastapi_onnx 3/3"]) == (
        f"served stages: about {(first + 2 * once) / 60:.0f} min left, estimated from the settings"
    )
    assert time_left(config, ["fastapi_onnx 3/3"]) == (
        f"served stages: about {once / 60:.0f} min left, estimated from the settings"
    )
    assert time_left(config, ["fastapi_onnx"]) == ""  # not a stage of a repeated run


def _results(served):
    info = RunInfo(id="r", profile="quick", started_utc="2026-01-01T00:00:00+00:00", command="x")
    return RunResults(run=info, settings={}, served=served)


def test_the_report_shows_batch_sizes_in_samples_and_defaults_vs_the_best_setting():
    point = {
        "batch_size": 1,
        "concurrency": 4,
        "throughput_rps": 100.0,
        "throughput_samples_per_s": 100.0,
        "p99_ms": 9.0,
    }
    point8 = {**point, "batch_size": 8, "throughput_rps": 50.0, "throughput_samples_per_s": 400.0}
    s = ServedResult(
        target="torchserve",
        status="OK",
        sweep=[point],
        slo={"max_rate_rps": 80.0, "trials": []},
        batches=[{"batch_size": 8, "sweep": [point8], "slo": {"max_rate_rps": 40.0, "trials": []}}],
        tuning={
            "batch_size": 1,
            "default": {"setting": {}, "label": "defaults", "max_rate_rps": 80.0},
            "trials": [{"setting": {"workers": 2}, "label": "workers=2", "status": "OK", "max_rate_rps": 120.0}],
            "best": {
                "setting": {"workers": 2},
                "label": "workers=2",
                "max_rate_rps": 120.0,
                "max_rate_samples_per_s": 120.0,
                "gain_vs_default": 1.5,
            },  # fmt: skip
        },
    )
    batches = batch_table(_results([s]))
    assert [r[1] for r in batches.rows] == ["1", "8"]
    assert batches.rows[1][2] == "400.0" and batches.rows[1][6] == "320.0" and batches.rows[1][7] == "4.0x"
    tuned = tuning_table(_results([s]))
    assert tuned.rows[0][2:7] == ["80.0", "workers=2", "120.0", "120.0", "1.50x"]


def test_load_batch_size_flag_takes_a_list_and_defaults_to_batch_1():
    from deploy_compare.cli import build_parser
    from deploy_compare.commands.load import run_config_from_args

    base = ["load", "--url", "http://127.0.0.1:1", "--protocol", "torchserve", "--artifacts", "a"]
    assert run_config_from_args(build_parser().parse_args(base)).batch_sizes() == [1]  # run's 1,8,32: asked for
    assert run_config_from_args(build_parser().parse_args([*base, "--batch-size", "8,32"])).batch_sizes() == [8, 32]
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--batch-size", "0"])
