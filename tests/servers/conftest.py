"""Fixtures for the servers tests.

The real artifacts come from the lead's session fixture `exported` (tests/conftest.py).
`manifest_copy` makes a private, writable copy for tests that damage an artifact.
server_helpers.FakeDockerClient records the Docker SDK calls where no engine exists: it
checks argument building only and is never used to claim a server works.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

# Test modules here import server_helpers.py; this pytest setup does not put test
# directories on sys.path, so do it for this one directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docker_fixtures import docker_client, tfserving_standin_base, torchserve_base  # noqa: E402, F401


@pytest.fixture(scope="session")
def artifacts(exported) -> Path:
    return exported[0]


@pytest.fixture()
def manifest_copy(artifacts, tmp_path) -> Path:
    """A writable copy of the manifest + the TorchScript and SavedModel artifacts."""
    dst = tmp_path / "artifacts"
    dst.mkdir()
    data = json.loads((artifacts / "manifest.json").read_text())
    keep = {"torchscript", "savedmodel"}
    data["artifacts"] = {k: v for k, v in data["artifacts"].items() if k in keep}
    for entry in data["artifacts"].values():
        src = artifacts / entry["path"]
        if src.is_dir():
            shutil.copytree(src, dst / entry["path"])
        else:
            shutil.copyfile(src, dst / entry["path"])
    (dst / "manifest.json").write_text(json.dumps(data, indent=2))
    shutil.copyfile(artifacts / "eval.npz", dst / "eval.npz")
    return dst
