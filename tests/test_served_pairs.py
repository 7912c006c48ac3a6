"""`[run] serve`: the (stack, artifact) pairs a run measures, validated before any work, and
how results.json names them (the stack alone for its own format, "stack:artifact" else)."""

from __future__ import annotations

import pytest

from deploy_compare.deploy.config import load_run_config
from deploy_compare.deploy.pairs import ServedPair, pair_key
from deploy_compare.deploy.plan import stage_plan
from deploy_compare.deploy.results import RunResults, ServedResult
from deploy_compare.errors import ConfigError

pytestmark = pytest.mark.unit


def test_the_default_measures_each_stack_with_its_own_format_and_every_stack_with_onnx():
    run = load_run_config().run
    pairs = run.pairs()
    own = [p for p in pairs if p.own]
    assert [p.stack for p in own] == run.targets  # every target once with its own format, first
    shared = [p for p in pairs if not p.own]
    assert ServedPair("torchserve", "onnx") in shared
    # the runtime held fixed: every stack that can serve the onnx file does, exactly once
    onnx_stacks = sorted(p.stack for p in pairs if p.artifact == "onnx")
    assert onnx_stacks == ["fastapi_onnx", "torchserve", "triton"]
    assert "torchserve:onnx" in run.served_keys() and "triton" in run.served_keys()


def test_explicit_pairs_are_kept_in_order():
    run = load_run_config(overrides={"run": {"serve": ["torchserve", "torchserve:onnx", "triton:onnx"]}}).run
    assert run.served_keys() == ["torchserve", "torchserve:onnx", "triton"]  # triton:onnx is its own format
    assert [name for name, _, _ in stage_plan(run.served_keys(), 1)][1:] == run.served_keys()


@pytest.mark.parametrize(
    ("serve", "message"),
    [
        (["nosuch:onnx"], r"run.serve: unknown stack 'nosuch'"),
        (["tfserving:onnx"], r"TF Serving cannot serve 'onnx'; it serves: savedmodel"),
        (["torchserve:onnx", "torchserve:onnx"], r"each pair once, got torchserve:onnx"),
        (["triton", "triton:onnx"], r"each pair once, got triton"),
        ("torchserve", r"run.serve must be a list"),
        ([""], r"each entry is 'stack' or 'stack:artifact'"),
    ],
)
def test_a_bad_pair_stops_the_run_with_one_line(serve, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(overrides={"run": {"serve": serve}})


def test_a_pair_outside_the_targets_is_refused():
    with pytest.raises(ConfigError, match=r"torchserve:onnx not among run.targets \(triton\)"):
        load_run_config(overrides={"run": {"targets": ["triton"], "serve": ["torchserve:onnx"]}})


def test_results_keys_are_derived_and_old_files_read_unchanged():
    own = ServedResult(target="torchserve", status="OK", artifact="torchscript")
    other = ServedResult(target="torchserve", status="OK", artifact="onnx")
    old = ServedResult(target="triton", status="OK")  # an old file: no artifact recorded
    assert (own.key, other.key, old.key) == ("torchserve", "torchserve:onnx", "triton")
    assert pair_key("nosuch", "x") == "nosuch:x"  # an unknown stack's pair stays apart
    doc = {
        "run": {"id": "r", "profile": "quick", "started_utc": "t", "command": "c"},
        "settings": {},
        "served": [{"target": "torchserve", "status": "OK", "artifact": "onnx"}],
    }
    assert [s.key for s in RunResults.from_dict({**doc, "schema_version": 1}).served] == ["torchserve:onnx"]
    assert "key" not in RunResults.from_dict({**doc, "schema_version": 1}).to_dict()["served"][0]


def test_serve_refuses_an_artifact_the_target_cannot_serve_before_any_start(tmp_path, capsys):
    from deploy_compare.cli import main

    code = main(["serve", "--target", "tfserving", "--artifact", "onnx", "--run-dir", str(tmp_path / "run")])
    assert code == 2
    assert "TF Serving cannot serve 'onnx'; it serves: savedmodel" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
