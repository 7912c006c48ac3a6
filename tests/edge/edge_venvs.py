"""Fresh virtualenvs holding only numpy and a TFLite runtime: the Python of a device.

Built once into .cache/edge-venvs/<tag>-numpy<v>-ai-edge-litert<v> (installs come from the
local wheel cache/index and are fast) and reused while the versions match. Shared by the
fresh-venv runner test and the ssh tier's device (tests/edge/conftest.py: litert_venv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_CACHE = REPO / ".cache" / "edge-venvs"


def clean_env() -> dict[str, str]:
    """Nothing from this venv or the test's environment may leak in (PYTHONPATH, VIRTUAL_ENV, ...)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
    }


def lock_variant() -> tuple[str, str, list[str]]:
    """(python, tag, requirements) of the device venv at the lock's numpy and ai-edge-litert."""
    return (
        sys.executable,
        "py" + "".join(map(str, sys.version_info[:2])),
        [f"numpy=={version('numpy')}", f"ai-edge-litert=={version('ai-edge-litert')}"],
    )


def fresh_venv(python: str, tag: str, requirements: list[str]) -> Path:
    """A venv with only `requirements` (and what they depend on), built once and cached."""
    key = f"{tag}-" + "-".join(r.replace("==", "") for r in requirements)
    venv = VENV_CACHE / key
    if (venv / "READY").exists():
        return venv
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".partial", dir=VENV_CACHE))
    try:
        subprocess.run([python, "-m", "venv", str(tmp)], check=True, env=clean_env(), capture_output=True)
        proc = subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(requirements)} failed: {proc.stderr.strip()[-800:]}")
        (tmp / "READY").write_text(" ".join(requirements) + "\n")
        shutil.rmtree(venv, ignore_errors=True)
        os.replace(tmp, venv)  # venvs hard-code their path in bin/ scripts; `python` itself is fine
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return venv
