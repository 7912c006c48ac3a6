"""Fixtures for the edge bundle tests: one bundle of the real export per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def edge_bundle(exported, tmp_path_factory):
    """A bundle of all six TFLite artifacts (both converter routes) (read-only: copy it before damaging anything)."""
    from deploy_compare.edge.bundle import write_edge_bundle

    out_dir, _ = exported
    return write_edge_bundle(out_dir, tmp_path_factory.mktemp("edge") / "bundle", samples=96)
