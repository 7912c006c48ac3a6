"""Fixtures for the edge tests: one bundle of the real export per session, the device-side
Pythons (a fresh numpy + ai-edge-litert venv, the emulated aarch64 root file system), and a
real sshd on 127.0.0.1 for the ssh tier."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

# Test modules here import edge_venvs.py and sshd_server.py; this pytest setup does not put
# test directories on sys.path, so do it for this one directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_venvs import fresh_venv, lock_variant  # noqa: E402
from sshd_server import SshServer, sshd_available  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def edge_bundle(exported, tmp_path_factory):
    """A bundle of all six TFLite artifacts (both converter routes) (read-only: copy it before damaging anything)."""
    from deploy_compare.edge.bundle import write_edge_bundle

    out_dir, _ = exported
    return write_edge_bundle(out_dir, tmp_path_factory.mktemp("edge") / "bundle", samples=96)


@pytest.fixture(scope="session")
def litert_venv() -> Path:
    """A venv with only the lock's numpy and ai-edge-litert: a device's Python (cached per machine)."""
    return fresh_venv(*lock_variant())


@pytest.fixture(scope="session")
def arm64_root():
    """The aarch64 root file system with numpy + ai-edge-litert (edge/emulation.py), built once per machine."""
    from deploy_compare.edge.emulation import EmulationUnavailable, build_rootfs, check_tools, recipe_from_lock

    try:
        check_tools()
    except EmulationUnavailable as exc:
        pytest.skip(f"aarch64 emulation unavailable here: {exc} (.ci/run installs them)")
    started = time.monotonic()
    root = build_rootfs(recipe_from_lock(REPO / "requirements.lock"), REPO / ".cache" / "arm64-rootfs", progress=print)
    print(f"arm64 rootfs ready in {time.monotonic() - started:.1f}s: {root}")
    return root


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1 (a free port, throwaway keys), stopped after the session."""
    reason = sshd_available()
    if reason:
        pytest.skip(f"the ssh tier needs OpenSSH: {reason}")
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
