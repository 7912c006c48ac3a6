"""Shared fixtures. Heavy imports stay inside fixtures so `-m unit` runs stay fast.

`exported` is the real export of the built-in model, made once per test session into
.cache/test-artifacts (reused across sessions while the model and tools are unchanged).
Treat it as read-only: a test that damages artifacts copies them to tmp_path first.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO / ".cache"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def exported():
    """(artifacts directory, Manifest) of the built-in digits CNN, all nine artifacts."""
    from deploy_compare.exporters.pipeline import ExportOptions, export_all

    out_dir = TEST_CACHE / "test-artifacts" / "digits_cnn"
    out_dir.mkdir(parents=True, exist_ok=True)
    # Several pytest processes may share this cache on a developer machine: one exports, the rest wait.
    with open(out_dir.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = export_all(
            ExportOptions(out_dir=out_dir, cache_dir=TEST_CACHE / "models"), progress=lambda message: None
        )
    return out_dir, manifest


@pytest.fixture(scope="session")
def eval_data(exported):
    from deploy_compare.exporters.verify import EvalData

    return EvalData.load(exported[0])
