"""The tune tests share the real digits export (tests/conftest.py `exported`)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def artifacts(exported):
    return exported[0]
