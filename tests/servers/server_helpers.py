"""Helpers shared by the servers tests: process-table checks and a recording docker client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil


def rewrite_sha(manifest_dir: Path, name: str) -> None:
    """Record the current file's sha256 in the manifest (a 'valid' manifest for a bad file)."""
    from deploy_compare.fileio import sha256_of

    path = manifest_dir / "manifest.json"
    data = json.loads(path.read_text())
    entry = data["artifacts"][name]
    entry["sha256"] = sha256_of(manifest_dir / entry["path"])
    path.write_text(json.dumps(data, indent=2))


def eval_batch(artifacts: Path, manifest, artifact: str, n: int = 16):
    """n samples of eval.npz in the artifact's layout/dtype, and the reference logits."""
    import numpy as np

    from deploy_compare.evaldata import EvalData
    from deploy_compare.manifest import to_artifact_layout

    data = EvalData.load(artifacts).head(n)
    spec = manifest.artifact(artifact).inputs[0]
    x = to_artifact_layout(data.x, manifest.model.layout, spec.layout).astype(spec.dtype)
    return np.ascontiguousarray(x), data.reference


def alive(pids: list[int]) -> list[int]:
    """Pids from `pids` still running (zombies count as gone) - read from the process table."""
    out = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            continue
    return out


def processes_mentioning(text: str) -> list[int]:
    """Every process whose command line or cwd mentions `text` (e.g. an instance's work dir)."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if text in " ".join(p.info["cmdline"] or []) or text in (p.cwd() or ""):
                found.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return found


class FakeContainer:
    def __init__(self, name: str, log: bytes = b"server log line\n", status: str = "running") -> None:
        self.name = name
        self.status = status
        self.attrs: dict[str, Any] = {"State": {"Status": status, "ExitCode": 0 if status == "running" else 1}}
        self._log = log
        self.calls: list[str] = []

    def reload(self) -> None:
        self.calls.append("reload")

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        self.calls.append("logs")
        return self._log

    def exec_run(self, cmd: list[str]) -> tuple[int, bytes]:
        self.calls.append("exec_run")
        return 1, b""

    def stop(self, timeout: int = 10) -> None:
        self.calls.append("stop")

    def remove(self, force: bool = False) -> None:
        self.calls.append("remove")


class _Images:
    def __init__(self, owner: FakeDockerClient) -> None:
        self.owner = owner

    def get(self, name: str) -> object:
        if name not in self.owner.present_images:
            raise LookupError(name)
        return object()

    def build(self, **kwargs: Any) -> tuple[object, list[dict]]:
        self.owner.build_calls.append(kwargs)
        if self.owner.build_error is not None:
            raise self.owner.build_error
        return object(), [{"stream": "Step 1/5 : FROM base\n"}, {"stream": "Successfully built 0123\n"}]


class _Containers:
    def __init__(self, owner: FakeDockerClient) -> None:
        self.owner = owner

    def run(self, **kwargs: Any) -> FakeContainer:
        self.owner.run_calls.append(kwargs)
        self.owner.container = FakeContainer(kwargs["name"], status=self.owner.container_status)
        return self.owner.container

    def get(self, name: str) -> FakeContainer:
        if self.owner.container is None:
            raise LookupError(name)
        return self.owner.container


class FakeDockerClient:
    """Records images.build / containers.run calls (argument-building unit tests only)."""

    def __init__(self, build_error: Exception | None = None, container_status: str = "running") -> None:
        self.build_calls: list[dict] = []
        self.run_calls: list[dict] = []
        self.build_error = build_error
        self.container_status = container_status
        self.present_images: set[str] = set()  # what images.get finds
        self.container: FakeContainer | None = None
        self.images = _Images(self)
        self.containers = _Containers(self)
        self.closed = False

    def close(self) -> None:
        self.closed = True
