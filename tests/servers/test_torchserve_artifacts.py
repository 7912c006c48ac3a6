"""A REAL native TorchServe serving the other artifacts its handler loads: the AOTInductor
package and the ONNX file through ONNX Runtime (`[run] serve` pairs), and the frozen
TorchScript file optimized at load. One short server per artifact, on the session's export.
"""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest

from deploy_compare.errors import ConfigError
from deploy_compare.evaldata import EvalData
from deploy_compare.runtimes.torchscript_optimize import TIMED_PATTERN
from deploy_compare.servers import make_launcher
from deploy_compare.servers.torchserve.config import TorchServeConfig
from deploy_compare.servers.torchserve.handler import APPLIED_MARKER, PHASES_HEADER
from deploy_compare.servers.torchserve.native import native_unavailable_reason

pytestmark = [
    pytest.mark.torchserve,
    pytest.mark.skipif(
        native_unavailable_reason() is not None, reason=f"native TorchServe: {native_unavailable_reason()}"
    ),
    pytest.mark.timeout(240),
]


def _applied(log_text: str) -> dict:
    """What the worker logged it applied (handler.py APPLIED_MARKER)."""
    line = next(line for line in log_text.splitlines() if APPLIED_MARKER in line)
    return json.loads(line.split(APPLIED_MARKER, 1)[1].strip())


@pytest.mark.parametrize(
    ("artifact", "expected"),
    [
        ("onnx", {"format": "onnx", "graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_threads": "1"}),
        ("aoti", {"format": "aoti"}),
        ("torchscript", {"format": "torchscript", "optimize_for_inference": TIMED_PATTERN}),
    ],
)
def test_torchserve_serves_the_artifact_with_reference_predictions(artifacts, tmp_path, artifact, expected):
    data = EvalData.load(artifacts)
    config = TorchServeConfig(workers=1, torch_threads=1, start_timeout_s=120)
    launcher = make_launcher(
        "torchserve", "native", manifest_dir=artifacts, run_dir=tmp_path, config=config, artifact=artifact
    )
    assert launcher.model.entry.name == artifact
    with launcher:
        ep = launcher.endpoint
        x = data.x[:8]
        reply = httpx.post(ep.predict_url, json={"instances": x.tolist()}, headers=ep.headers, timeout=30.0)
        assert reply.status_code == 200, reply.text
        # the handler's own phases (where the worker's time goes), in microseconds
        phases = dict(kv.split("=") for kv in reply.headers[PHASES_HEADER].split(";"))
        assert set(phases) == {"parse", "model", "post"} and int(phases["model"]) > 0
        got = np.asarray(reply.json()["predictions"], dtype=np.float32)
        np.testing.assert_allclose(got, data.reference[:8], rtol=1e-3, atol=1e-3)
        body = np.ascontiguousarray(x, dtype=np.float32).tobytes()
        binary = httpx.post(
            ep.predict_url,
            content=body,
            headers={**ep.headers, "Content-Type": "application/octet-stream"},
            timeout=30.0,
        )
        assert binary.status_code == 200, binary.text
        assert np.asarray(binary.json()["predictions"]).argmax(1).tolist() == got.argmax(1).tolist()
        effective = launcher.effective_settings()  # results.json "effective_settings"
    applied = _applied(_worker_logs(launcher))
    if expected.get("optimize_for_inference") == TIMED_PATTERN:  # the runtime's rule, timed in the worker
        assert re.fullmatch(TIMED_PATTERN, applied.pop("optimize_for_inference")), applied
        expected = {k: v for k, v in expected.items() if k != "optimize_for_inference"}
    assert applied.items() >= {**expected, "torch_threads": "1"}.items()
    assert effective["workers"] == 1 and effective["torch_threads"] == "1"
    assert effective["handler_format"] == expected["format"]


def _worker_logs(launcher) -> str:
    logs = [launcher.log_path, *sorted((launcher.work_dir / "logs").glob("*.log"))]
    return "\n".join(p.read_text(errors="replace") for p in logs if p.is_file())


def test_the_log_reader_looks_for_the_handlers_own_marker():
    from deploy_compare.servers.torchserve.effective import APPLIED_MARKER as LOG_MARKER

    assert LOG_MARKER == APPLIED_MARKER


def test_an_artifact_the_stack_cannot_serve_is_refused_before_any_start(artifacts, tmp_path):
    with pytest.raises(ConfigError, match="cannot serve 'savedmodel'"):
        make_launcher("torchserve", "native", manifest_dir=artifacts, run_dir=tmp_path, artifact="savedmodel")
    assert not any(tmp_path.iterdir())
