"""The TorchServe handler called directly, with TorchServe's own Context and RequestProcessor,
on the real exported TorchScript file: batch stacking/splitting and a bad request mixed
into a batch (hard to provoke deterministically through a live server)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from deploy_compare.evaldata import EvalData
from deploy_compare.servers import make_launcher
from deploy_compare.servers.model_spec import served_model
from deploy_compare.servers.torchserve.archive import HANDLER_CONFIG_NAME, handler_config
from deploy_compare.servers.torchserve.config import TorchServeConfig
from deploy_compare.servers.torchserve.handler import BATCH_HEADER, DeployCompareHandler

pytestmark = pytest.mark.torchserve


@pytest.fixture(scope="module")
def handler_and_context(artifacts, tmp_path_factory):
    from ts.context import Context, RequestProcessor

    model = served_model("torchserve", artifacts)
    model_dir = tmp_path_factory.mktemp("model-dir")
    shutil.copyfile(model.artifact_path, model_dir / "model.pt")
    (model_dir / HANDLER_CONFIG_NAME).write_text(json.dumps(handler_config(model, TorchServeConfig(torch_threads=1))))
    manifest = {"model": {"modelName": model.model_name, "serializedFile": "model.pt"}}
    context = Context(model.model_name, str(model_dir), manifest, batch_size=4, gpu=None, mms_version="0.12.0")
    handler = DeployCompareHandler()
    handler.initialize(context)

    def fresh_context(n):
        context.request_processor = [RequestProcessor({}) for _ in range(n)]
        return context

    return handler, fresh_context


@pytest.fixture(scope="module")
def eval_arrays(artifacts):
    data = EvalData.load(artifacts)
    return data.x, data.reference


def test_batch_of_requests_is_run_once_and_split_back(handler_and_context, eval_arrays):
    handler, fresh_context = handler_and_context
    x, reference = eval_arrays
    bodies = [{"instances": x[0:2].tolist()}, {"instances": x[2:3].tolist()}, {"instances": x[3:6].tolist()}]
    # TorchServe hands JSON bodies over already decoded, or as bytes; both must work
    data = [{"body": bodies[0]}, {"body": json.dumps(bodies[1]).encode()}, {"data": json.dumps(bodies[2])}]
    context = fresh_context(3)
    out = handler.handle(data, context)
    assert len(out) == 3
    for response, (lo, hi) in zip(out, [(0, 2), (2, 3), (3, 6)]):
        np.testing.assert_allclose(np.asarray(response["predictions"], np.float32), reference[lo:hi], atol=1e-4)
    for idx in range(3):
        assert context.get_response_status(idx)[0] == 200
        assert context.get_response_headers(idx)[BATCH_HEADER] == "3"


def test_a_bad_request_fails_alone_and_the_rest_of_the_batch_succeeds(handler_and_context, eval_arrays):
    handler, fresh_context = handler_and_context
    x, reference = eval_arrays
    data = [{"body": {"instances": x[:1].tolist()}}, {"body": b"{broken"}, {"body": {"instances": x[1:2].tolist()}}]
    context = fresh_context(3)
    out = handler.handle(data, context)
    assert context.get_response_status(1)[0] == 400
    assert "not valid JSON" in out[1]["error"]
    for idx, row in ((0, 0), (2, 1)):
        assert context.get_response_status(idx)[0] == 200
        np.testing.assert_allclose(out[idx]["predictions"][0], reference[row], atol=1e-4)


def test_smoke_load_accepts_the_archive_and_names_both_versions_when_it_cannot_load(artifacts, tmp_path):
    """The Docker image's build-time check (servers/torchserve/smoke_load.py), run here with this
    environment's torch on a real .mar (the real export: the unit tier has placeholders only)."""
    import subprocess
    import sys
    import zipfile

    from server_helpers import FakeDockerClient

    launcher = make_launcher(
        "torchserve", "docker", manifest_dir=artifacts, run_dir=tmp_path, docker_client=FakeDockerClient()
    )
    context = launcher.assemble_context()
    script, store = context / "smoke_load.py", context / "model-store"
    out = tmp_path / "versions.json"
    ok = subprocess.run(
        [sys.executable, str(script), str(store), "2.13.0+cpu", str(out)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    import torch

    assert json.loads(out.read_text())["torch"] == torch.__version__
    # a TorchScript file this torch cannot read
    mar = next(store.glob("*.mar"))
    with zipfile.ZipFile(mar) as src, zipfile.ZipFile(tmp_path / "bad.mar", "w") as dst:
        for item in src.namelist():
            dst.writestr(item, b"not torchscript" if item == "model.pt" else src.read(item))
    mar.unlink()
    (tmp_path / "bad.mar").rename(mar)
    bad = subprocess.run([sys.executable, str(script), str(store), "9.9.9", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stdout.startswith("deploy-compare smoke-load: ")
    assert f"written by torch 9.9.9, the image has torch {torch.__version__}" in bad.stdout
