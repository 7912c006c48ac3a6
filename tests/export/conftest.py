from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).parent / "deploy-compare")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> CliResult:
    proc = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    """Run the installed `deploy-compare` console script as a user would."""
    return run_cli


@pytest.fixture
def test_models() -> Path:
    return HERE / "models_for_tests.py"
