"""What a skip means in CI: the one list of skips CI accepts, and the switch that makes every other one fail.

CI (.ci/run) installs every capability a test tier needs that a machine here can have: the
Docker engine, native Triton's .venv-triton, Chromium, qemu-user-static and debootstrap,
Ray and tensorflow-serving-api (both in the lock), Java for TorchServe. Where one of them
is missing or broken, a skip would turn a broken path into a green run; so under CI=true
(.ci/run exports it) or DEPLOY_COMPARE_REQUIRE_ALL=1 a skip whose reason is not listed
below is reported as a failure (tests/conftest.py), and `make test` exits non-zero.
Outside CI a skip stays a skip, with its reason, on a developer's machine that lacks a tool.
"""

from __future__ import annotations

import os

#: reason prefix -> why no machine here can have it. The only skips CI accepts.
ALLOWED_SKIPS: dict[str, str] = {
    # test_conformance.py's tfserving parameters (its native launcher's reason)
    "native TF Serving: ": "tensorflow_model_server is a C++ binary with no Debian or PyPI package, "
    "and no image registry answers here to pull tensorflow/serving",
    "Docker Triton: ": "the official Triton image (nvcr.io) cannot be pulled: no image registry answers here",
}


def strict() -> bool:
    """True in CI: a capability CI installs must work, so a skip for its absence is a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get(
        "DEPLOY_COMPARE_REQUIRE_ALL", ""
    ) not in ("", "0")


def allowed_reason(reason: str) -> str | None:
    """Why CI accepts a skip with this reason, or None when it must fail there."""
    reason = reason.removeprefix("Skipped: ")
    return next((why for prefix, why in ALLOWED_SKIPS.items() if reason.startswith(prefix)), None)
