"""Process and machine facts: memory, usable cores, CPU pinning, the machine description.

The one place that reads them: local rows, the edge runner's rows and the run's
environment.json (deploy/environment.py) all describe the CPU, the cores and the memory
through these functions, so a Pi's rows and its environment agree. A core module
(DESIGN.md "Layers"): the in-process benchmark, the load client and the pipeline's core
split (affinity.py) all read the machine here.

A pure module (stdlib + numpy only, Python 3.9 syntax): edge-bundle assembles it into
the standalone run_edge.py (edge/assemble.py).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np


def peak_rss_mib() -> Optional[float]:
    """This process's peak resident set size so far (MiB); None where the OS does not say.

    A high-water mark, so "growth" = peak at the end minus peak at a starting point; it
    needs one process per measurement, which is why every artifact runs in its own.
    Linux: VmHWM from /proc/self/status, which belongs to this address space. NOT
    getrusage's ru_maxrss: that one survives fork+exec, so a worker started by a parent
    holding torch and TensorFlow (the pipeline) would start at the parent's peak and show
    no growth at all.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def allowed_cores() -> Optional[List[int]]:
    """CPU numbers this process may run on, where the OS exposes affinity (Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))


def usable_cores() -> List[int]:
    """The cores this process may use: its affinity where the OS has one, else all of them."""
    cores = allowed_cores()
    return cores if cores is not None else list(range(os.cpu_count() or 1))


def pin_to_cores(count: int) -> Tuple[Optional[List[int]], Optional[str]]:
    """Pin this process to `count` of its allowed cores: (cores, None) or (None, why not).

    Takes the LAST allowed cores because the first core of a Linux box usually serves
    more interrupts. Call it before the runtime starts its threads.
    """
    cores = allowed_cores()
    if cores is None or not hasattr(os, "sched_setaffinity"):
        return None, f"CPU pinning not supported on {platform.system()}"
    chosen = cores[-count:] if count <= len(cores) else cores
    try:
        os.sched_setaffinity(0, chosen)
    except OSError as exc:
        return None, f"CPU pinning refused by the OS ({exc})"
    return chosen, None


def cpu_model() -> str:
    """The CPU's name: x86 "model name"; ARM boards (Raspberry Pi, ...) "Model" or "Hardware"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        # x86: "model name"; Raspberry Pi / ARM boards: "Model" or "Hardware".
        for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
            if fields.get(key):
                return fields[key]
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def memory_total_mib() -> Optional[float]:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_description() -> Dict[str, Any]:
    """What the numbers were measured on (no host name: results get shared)."""
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "allowed_cpus": len(usable_cores()),
        "memory_total_mib": memory_total_mib(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
