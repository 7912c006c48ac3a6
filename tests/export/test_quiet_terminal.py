"""A successful export leaves the terminal to the project: third-party output goes to logs/.

torchao (imported by litert-torch) fails to load its CUDA libraries and triton and logs
the tracebacks; absl and TF make their logging handlers while the converters' output is
captured. Before native_logs sent Python's stderr to the log, this export printed three
"--- Logging error ---" tracebacks and a ModuleNotFoundError on the user's screen.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.export


def test_a_successful_export_prints_no_traceback(cli, tmp_path):
    out = tmp_path / "art"
    # savedmodel goes through onnx and onnx2tf (absl/TF handlers made under captured output),
    # litert_torch_fp32 imports torchao; --no-reuse so each is really imported in this process
    result = cli("export", "--only", "savedmodel,litert_torch_fp32", "--no-reuse", "--out", str(out))
    assert result.code == 0, result.err + result.out
    assert "Traceback" not in result.err, result.err
    assert "Logging error" not in result.err, result.err
    assert result.err.strip() == "", f"third-party output reached the terminal:\n{result.err}"
    assert "wrote" in result.out  # the project's own lines still reach it
    assert (out / "logs" / "native.log").is_file()
