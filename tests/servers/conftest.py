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
from native_servers import NativeServers  # noqa: E402

#: the conformance suite's stop test: it ends the session's shared server of its stack, so it runs last
STOP_TEST = "test_stop_leaves_nothing_running"


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the conformance stop tests to the end: every other test shares the servers they stop."""
    stops = [item for item in items if getattr(item, "originalname", "") == STOP_TEST]
    moved = set(stops)
    items[:] = [item for item in items if item not in moved] + stops


@pytest.fixture(scope="session")
def artifacts(exported) -> Path:
    return exported[0]


@pytest.fixture(scope="session")
def native_servers(artifacts, tmp_path_factory):
    """The session's shared native servers (native_servers.py): `native_servers.get(kind)` starts one on first use."""
    servers = NativeServers(artifacts, tmp_path_factory.mktemp("native-servers"))
    yield servers
    servers.stop_all()


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
