"""The context every number needs: packages, CPU, cores, thread settings, commit, command.

The machine itself (CPU model, cores, memory) is described by machine.py,
the same functions the local and edge rows use.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from ..machine import cpu_model, memory_total_mib, usable_cores
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
    "litert-torch",
    "numpy",
    "httpx",
    "docker",
    "ray",
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


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../deploy_compare, wherever it is installed


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


def _installed_commit() -> str | None:
    """The commit pip recorded when it installed this package from a git URL (PEP 610)."""
    try:
        text = distribution("deploy-compare").read_text("direct_url.json")
        return json.loads(text)["vcs_info"]["commit_id"] if text else None
    except (PackageNotFoundError, ValueError, KeyError, TypeError):
        return None


def git_commit() -> str | None:
    """The commit of the deploy_compare code that is running (with -dirty for local changes).

    From the git checkout the package is imported from (an editable install or a source
    tree); an installed copy (site-packages) is no checkout even when a venv sits inside
    one, so it reports what pip recorded at install time, or None.
    """
    if "site-packages" not in PACKAGE_DIR.parts:
        try:
            commit = _git("rev-parse", "HEAD")
            dirty = _git("status", "--porcelain", "--untracked-files=no")
            return commit + ("-dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return _installed_commit()


def java_version() -> str | None:
    try:
        proc = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20)
        return (proc.stderr or proc.stdout).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def stack_packages() -> list[str]:
    """The packages of ours the stacks run with natively (Stack.packages), each once."""
    from ..servers.registry import stacks

    return list(dict.fromkeys(p for s in stacks().values() for p in s.packages))


def stack_environments() -> dict[str, dict[str, str]]:
    """ "<stack>_env": the package versions of each stack that runs from its own environment
    (Stack.env_versions); its versions are not ours."""
    from ..lazy import import_object
    from ..servers.registry import stacks

    return {f"{s.name}_env": import_object(s.env_versions)() for s in stacks().values() if s.env_versions}


def collect(argv: list[str] | None = None) -> dict:
    return {
        "collected_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(argv if argv is not None else sys.argv),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_total_mib": memory_total_mib(),
        "thread_settings": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "packages": package_versions(*PACKAGES, *stack_packages()),
        "java": java_version(),
        **stack_environments(),
        "git_commit": git_commit(),
    }
