"""runs/<timestamp>/ with a runs/latest link that always points at the newest run."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

LATEST = "latest"


def create_run_dir(root: Path, now: datetime | None = None) -> Path:
    root = Path(root).resolve()  # absolute: servers and workers run with other working directories
    root.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 100)]:  # two runs in one second never share a folder
        candidate = root / f"{stamp}{suffix}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        point_latest_at(root, candidate)
        return candidate
    raise FileExistsError(f"{root}: too many runs named {stamp}")


def point_latest_at(root: Path, run_dir: Path) -> None:
    link = Path(root) / LATEST
    tmp = Path(root) / f".{LATEST}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run_dir.name, tmp)  # relative, so the runs folder can be moved
    os.replace(tmp, link)
