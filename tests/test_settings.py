"""One set of defaults: `load` and `bench-local` build their settings exactly as `run` does
(default.toml, --quick, --config), their flags override the same typed fields, and a bad
value stops the command before it reads or starts anything."""

from __future__ import annotations

import dataclasses

import pytest

from deploy_compare.bench_local import MeasureSettings
from deploy_compare.cli import build_parser, main
from deploy_compare.commands.bench_local import config_from_args
from deploy_compare.commands.load import settings_from_args
from deploy_compare.deploy.config import load_run_config
from deploy_compare.errors import ConfigError

pytestmark = pytest.mark.unit

LOAD = ["load", "--protocol", "torchserve", "--url", "http://127.0.0.1:9"]


@pytest.mark.parametrize("quick", [False, True])
def test_load_and_bench_local_defaults_are_the_run_profile(quick):
    flag = ["--quick"] if quick else []
    run = load_run_config(quick=quick)
    assert settings_from_args(build_parser().parse_args(LOAD + flag)) == run.load_settings()
    assert config_from_args(build_parser().parse_args(["bench-local", *flag])) == run.bench_config()
    # --quick means one thing everywhere, the edge runner's MeasureSettings.quick() included.
    assert run.bench_config().settings == (MeasureSettings.quick() if quick else MeasureSettings())


def test_config_dataclass_defaults_are_default_toml(monkeypatch):
    """Defaults are written once (default.toml; defaults.py): each table of the full profile builds
    exactly the dataclass's default instance, so `LoadConfig()` and `run` start from the same values."""
    from deploy_compare.deploy.config import BUSY_MACHINE_ENV

    monkeypatch.delenv(BUSY_MACHINE_ENV, raising=False)  # the suite's "warn" (tests/conftest.py)
    from deploy_compare.bench_local import BenchConfig
    from deploy_compare.clients import LoadConfig, SloConfig
    from deploy_compare.deploy.config import RunSection, build
    from deploy_compare.deploy.tune import TuneSettings, tune_settings
    from deploy_compare.servers.registry import get, names

    run = load_run_config()
    assert run.run == RunSection()
    assert run.bench_config() == BenchConfig()
    settings = run.load_settings()
    # the one setting `run` adds: the SLO bound, so every level reports its goodput
    assert settings.closed == LoadConfig(slo_bound_ms=SloConfig().p99_bound_ms) and settings.slo == SloConfig()
    assert tune_settings(run) == TuneSettings()
    bare = dataclasses.replace(run, raw={})  # no [load] table at all: the same defaults
    assert bare.batch_sizes() == run.batch_sizes() and bare.batch_levels() == run.batch_levels()
    assert bare.encodings() == run.encodings()
    assert bare.slo_encoding() == run.slo_encoding() == "best"
    for kind in names():
        stack = get(kind)
        assert build(stack.config_class, run.section(kind), f"[{kind}]") == stack.default_config(), kind


def test_flags_override_the_same_fields_as_the_toml(tmp_path):
    s = settings_from_args(build_parser().parse_args(LOAD + ["--duration", "7", "--concurrency", "1,3"]))
    assert s.closed.duration_s == 7.0 and s.levels == [1, 3]
    s = settings_from_args(build_parser().parse_args(LOAD + ["--slo-ms", "20"]))
    assert s.slo.p99_bound_ms == 20.0
    assert s.open_loop.duration_s == load_run_config().load_settings().open_loop.duration_s  # [slo] trial length
    toml = tmp_path / "c.toml"
    toml.write_text("[load]\nduration_s = 4.0\nmin_requests = 99\n[local.measure]\nmin_iterations = 7\n")
    s = settings_from_args(build_parser().parse_args(LOAD + ["--config", str(toml), "--min-requests", "11"]))
    assert s.closed.duration_s == 4.0 and s.closed.min_requests == 11  # the flag wins over the file
    bench = config_from_args(build_parser().parse_args(["bench-local", "--config", str(toml), "--quick"]))
    assert (
        bench.settings.min_iterations == 7 and bench.settings.min_duration_s == MeasureSettings.quick().min_duration_s
    )


def test_bad_values_stop_before_any_work(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"\[load\].*timeout_s must be > 0"):
        settings_from_args(build_parser().parse_args(LOAD + ["--timeout", "0"]))
    toml = tmp_path / "bad.toml"
    toml.write_text("[local.measure]\nmin_iterashuns = 5\n")
    with pytest.raises(ConfigError, match=r"\[local.measure\]: unknown key\(s\) min_iterashuns"):
        load_run_config(toml).validate()
    # The CLI turns it into exit code 2 and never reads the (missing) export.
    missing = tmp_path / "no-export"
    assert main(LOAD + ["--artifacts", str(missing), "--warmup", "-1"]) == 2
    err = capsys.readouterr().err
    assert "warmup_s must be >= 0" in err and "manifest" not in err


def test_repeat_defaults_to_two_one_in_quick_three_in_thorough_and_the_flag_wins(tmp_path):
    from deploy_compare.commands.run import _overrides
    from deploy_compare.deploy.plan import served_plan

    assert load_run_config().run.repeat == 1 and load_run_config(quick=True).run.repeat == 1
    assert load_run_config(thorough=True).run.repeat == 3 and load_run_config(thorough=True).profile == "thorough"
    with pytest.raises(ConfigError, match="choose one profile"):
        load_run_config(quick=True, thorough=True)
    args = build_parser().parse_args(["run", "--quick", "--repeat", "2"])
    assert load_run_config(quick=True, overrides=_overrides(args)).run.repeat == 2
    toml = tmp_path / "r.toml"
    toml.write_text("[quick.run]\nrepeat = 4\n")
    assert load_run_config(toml, quick=True).run.repeat == 4
    with pytest.raises(ConfigError, match=r"run.repeat must be an integer >= 1"):
        load_run_config(overrides={"run": {"repeat": 0}})
    # The stacks interleave: every target once per repetition, A B A B.
    assert served_plan(["a", "b"], 2) == [("a 1/2", "a", 1), ("b 1/2", "b", 1), ("a 2/2", "a", 2), ("b 2/2", "b", 2)]
    assert served_plan(["a", "b"], 1) == [("a", "a", 1), ("b", "b", 1)]


def test_a_target_named_twice_is_refused():
    with pytest.raises(ConfigError, match=r"run.targets: each target once, got triton more than once"):
        load_run_config(overrides={"run": {"targets": ["triton", "fastapi_onnx", "triton"]}})


def test_load_measures_batch_size_1_unless_asked_for_more(tmp_path):
    from deploy_compare.commands.load import run_config_from_args

    def sizes(*extra):
        return run_config_from_args(build_parser().parse_args(LOAD + list(extra))).batch_sizes()

    assert load_run_config().batch_sizes() == [1, 8]  # `run`
    assert load_run_config(thorough=True).batch_sizes() == [1, 8, 32]
    assert sizes() == [1] and sizes("--quick") == [1]
    assert sizes("--batch-size", "1,8") == [1, 8]
    toml = tmp_path / "b.toml"
    toml.write_text("[load]\nbatch_sizes = [4, 16]\n")
    assert sizes("--config", str(toml)) == [4, 16]
    other = tmp_path / "o.toml"
    other.write_text("[load]\nduration_s = 5\n")
    assert sizes("--config", str(other)) == [1]
