"""Fixtures for tests that need a real Docker engine (imported by tests/servers/conftest.py).

Probes run when a test asks for them, never at collection: a module that merely imports
these does not touch the engine, and a test without an engine skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN_BUILD = REPO / "docker" / "torchserve-standin" / "build.sh"
TFSERVING_STANDIN = Path(__file__).resolve().with_name("tfserving_standin")


#: how long an engine may take to answer before the tier gives up: one slow ping on a loaded
#: machine must not skip (or, in CI, fail) the whole tier
ENGINE_DEADLINE_S = 60.0


@pytest.fixture(scope="session")
def docker_client():
    """A client of a Docker engine that answers within ENGINE_DEADLINE_S, else the test skips with the
    reason (a failure in CI, which starts an engine: tests/ci_policy.py)."""
    from deploy_compare.servers.docker_base import docker_unavailable_reason

    deadline = time.monotonic() + ENGINE_DEADLINE_S
    while (reason := docker_unavailable_reason()) is not None and time.monotonic() < deadline:
        time.sleep(2)
    if reason is not None:
        pytest.skip(f"Docker: {reason} (retried for {ENGINE_DEADLINE_S:.0f} s)")
    import docker

    client = docker.from_env(timeout=300)
    yield client
    client.close()


@pytest.fixture(scope="session")
def torchserve_base(docker_client) -> str:
    """Tag of a TorchServe base image that exists on the engine: $DEPLOY_COMPARE_TORCHSERVE_BASE
    (CI builds it first), else the local stand-in, built here when missing (root + debootstrap)."""
    tag = os.environ.get("DEPLOY_COMPARE_TORCHSERVE_BASE")
    if not tag:
        tag = subprocess.run([str(STANDIN_BUILD), "--print-tag"], check=True, capture_output=True, text=True)
        tag = tag.stdout.strip()
    if _exists(docker_client, tag):
        return tag
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip(f"no TorchServe base image {tag}; `make torchserve-base` (root + debootstrap) builds it")
    subprocess.run([str(STANDIN_BUILD)], check=True)
    return tag


@pytest.fixture(scope="session")
def tfserving_standin_base(docker_client, torchserve_base) -> str:
    """TEST-ONLY stand-in for tensorflow/serving (tests/servers/tfserving_standin)."""
    docker_client.images.build(
        path=str(TFSERVING_STANDIN),
        tag="deploy-compare/tfserving-test-base:stand-in",
        buildargs={"BASE_IMAGE": torchserve_base},
        rm=True,
        forcerm=True,
        pull=False,
    )
    return "deploy-compare/tfserving-test-base:stand-in"


def _exists(client, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except Exception:
        return False
