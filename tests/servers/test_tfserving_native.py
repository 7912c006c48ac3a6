"""Native TF Serving (tensorflow_model_server on PATH), which this machine may lack: the test
skips with the reason; where it runs, it predicts the eval samples and compares with the
reference logits. The Docker launchers' real-engine tests are in test_docker_real.py."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from deploy_compare.evaldata import EvalData
from deploy_compare.manifest import load_manifest, to_artifact_layout
from deploy_compare.servers import make_launcher
from deploy_compare.servers.tfserving.native import native_unavailable_reason as tfs_native_reason

TFS_REASON = tfs_native_reason()  # a PATH lookup: cheap at collection


@pytest.mark.runtime
@pytest.mark.timeout(300)
@pytest.mark.skipif(TFS_REASON is not None, reason=f"native TF Serving: {TFS_REASON}")
def test_native_tfserving_serves_the_model(artifacts, tmp_path):
    launcher = make_launcher("tfserving", "native", manifest_dir=artifacts, run_dir=tmp_path)
    with launcher:
        manifest = load_manifest(artifacts)
        data = EvalData.load(artifacts).head(8)
        x, reference = data.x, data.reference
        layout = manifest.artifact("savedmodel").inputs[0].layout
        instances = to_artifact_layout(x, manifest.model.layout, layout).tolist()
        ep = launcher.endpoint
        response = httpx.post(ep.predict_url, json={"instances": instances}, headers=ep.headers, timeout=60.0)
        assert response.status_code == 200, response.text
        got = np.asarray(response.json()["predictions"], dtype=np.float32)
        np.testing.assert_allclose(got, reference, atol=1e-3)
        # row JSON, columnar JSON and gRPC Predict on its Unix socket, through the load client
        import encoding_checks

        encoding_checks.predictions_equal_the_reference(ep, "tfserving", artifacts, manifest, 1e-3)
        pid = launcher.pid
    import psutil

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
