"""The context every number needs: packages, CPU, cores, thread settings, commit, command."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..versions import package_versions

PACKAGES = (
    "deploy-compare",
    "torch",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "onnx2tf",
    "tensorflow-cpu",
    "ai-edge-litert",
    "numpy",
    "httpx",
    "torchserve",
    "torch-model-archiver",
    "fastapi",
    "uvicorn",
    "docker",
)
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "TF_ENABLE_ONEDNN_OPTS",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def java_version() -> str | None:
    try:
        proc = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20)
        return (proc.stderr or proc.stdout).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def _triton_env_versions() -> dict[str, str]:
    """Native Triton runs from its own environment (.venv-triton); its versions are not ours."""
    from ..servers.triton.native import env_versions

    return env_versions()


def collect(repo: Path, argv: list[str] | None = None) -> dict:
    try:
        usable = sorted(os.sched_getaffinity(0))
    except AttributeError:
        usable = list(range(os.cpu_count() or 1))
    mem_total = None
    try:
        import psutil

        mem_total = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {
        "collected_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(argv if argv is not None else sys.argv),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": mem_total,
        "thread_settings": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "packages": package_versions(*PACKAGES),
        "java": java_version(),
        "triton_env": _triton_env_versions(),
        "git_commit": git_commit(repo),
    }
