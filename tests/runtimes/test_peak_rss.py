"""Peak-RSS growth must be the worker's own, whatever its parent holds."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

CHILD = (
    "from deploy_compare.machine import peak_rss_mib\n"
    "before = peak_rss_mib()\n"
    "block = bytearray(64 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "print(peak_rss_mib() - before)\n"
)


def test_growth_is_seen_in_a_child_of_a_large_parent():
    # The pipeline's parent holds torch and TensorFlow (~1 GiB) when it starts benchmark
    # workers; getrusage's ru_maxrss would hand the child that peak and hide any growth.
    ballast = bytearray(512 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True)
    assert 60 <= float(out.stdout) <= 80
    del ballast
