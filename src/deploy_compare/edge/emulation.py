"""An aarch64 Python with numpy + ai-edge-litert, run on this x86-64 machine under qemu user emulation.

Why: edge devices are ARM boards and phones, and the edge bundle must be shown to run on
one. Without a board, Debian's qemu-user-static runs an arm64 Python directly: no VM, no
emulated kernel, and no binfmt_misc registration needed (the interpreter is started as
`qemu-aarch64-static -cpu cortex-a72 -L ROOT ROOT/usr/bin/python3.11`). Timings under emulation say
nothing about a device; results are marked emulated (run_edge.py --emulator) and the
report never presents them as a device's latencies.

The root file system is built from Debian's and PyPI's packages only:
    1. `debootstrap --download-only --arch=arm64 --variant=minbase --include=python3`
       fetches bookworm's arm64 .debs (Python 3.11 and the libraries it links);
    2. every .deb is unpacked with `dpkg-deb -x` (no maintainer scripts, nothing runs
       under emulation) into a merged-/usr tree;
    3. `pip download --platform manylinux_2_27_aarch64 --only-binary=:all:` fetches the
       aarch64 wheels of numpy and ai-edge-litert at the versions requirements.lock pins,
       and they are unzipped into /usr/local/lib/python3.11/dist-packages.
    4. /proc/cpuinfo is written into the tree (an ARM Cortex-A72 description, one entry per
       host core): qemu 7.2 passes the host's x86 /proc/cpuinfo through, and the cpuinfo
       library inside LiteRT/XNNPACK crashes (SIGSEGV) parsing it; qemu's -L prefix serves
       the guest this file instead. Its "Hardware" line says it is the emulator's.
It is cached under .cache/arm64-rootfs/<key>, the key a hash of all of the above
(suite, packages, wheel pins, this recipe's version), and reused while the key matches.

The same recipe, parametrized by suite, architecture and Python, builds the root file system
of an older board on this machine's own architecture (recipe_py39: bullseye's Python 3.9 with
numpy and tflite-runtime), run natively in a chroot (chroot_python_command) instead of qemu.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import DeployCompareError

EMULATOR = "qemu-aarch64-static"
#: the emulated CPU: a Cortex-A72 (Raspberry Pi 4), the same core the guest's /proc/cpuinfo
#: describes. Why not qemu's default "max" CPU: under qemu 7.2 with "max", every int8
#: TFLite model computed wrong outputs (top-1 agreement 9-41%; float models exact), while
#: cortex-a72 and neoverse-n1 agree 100% with x86 (XNNPACK picks kernels by the CPU's
#: features; some of the newer instructions "max" advertises are emulated wrongly or
#: trigger a kernel bug: not investigated further).
CPU = "cortex-a72"
#: bump when the recipe below changes what ends up in the root file system
RECIPE_VERSION = 2
READY = "READY.json"
#: this machine's architecture in Debian's words
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
MERGED_USR = ("bin", "sbin", "lib")


class EmulationUnavailable(DeployCompareError):
    """A tool the emulated root file system needs (qemu-user-static, debootstrap) is not installed."""


class RootfsBuildError(DeployCompareError):
    """Building the arm64 root file system failed; the message quotes the failing step."""


@dataclass(frozen=True)
class RootfsRecipe:
    suite: str = "bookworm"
    arch: str = "arm64"
    packages: tuple[str, ...] = ("python3",)
    mirror: str = "http://deb.debian.org/debian"
    python_version: str = "3.11"
    wheel_platforms: tuple[str, ...] = ("manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
    #: "name==version" of each wheel, from requirements.lock (see recipe_from_lock)
    wheels: tuple[str, ...] = ()
    #: processors listed in the guest's /proc/cpuinfo (the host's count)
    cpus: int = 1

    @property
    def python(self) -> str:
        """The interpreter's path inside the root file system."""
        return f"usr/bin/python{self.python_version}"

    @property
    def site_packages(self) -> str:
        return f"usr/local/lib/python{self.python_version}/dist-packages"

    @property
    def emulated(self) -> bool:
        """A foreign architecture (run under qemu) rather than this machine's own (run in a chroot)."""
        return self.arch != HOST_ARCH

    def key(self) -> str:
        text = json.dumps({**asdict(self), "mirror": None, "recipe": RECIPE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def lock_pins(lock: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    """The exact "name==version" lines of `names` in a requirements lock (local tags like +cpu dropped)."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip().split("+", 1)[0]
    missing = [n for n in names if n not in pins]
    if missing:
        raise RootfsBuildError(f"{lock}: no exact pin for {', '.join(missing)}")
    return tuple(f"{n}=={pins[n]}" for n in names)


#: A Python 3.9 board (Debian bullseye, e.g. Raspberry Pi OS 11): run_edge.py's oldest promise.
#: ai-edge-litert publishes no 3.9 wheel, so such a board uses tflite-runtime 2.14.0 (its
#: last 3.9 wheel, built against numpy 1.x) with numpy 1.26, the last 1.x line.
PY39_WHEELS = ("numpy==1.26.4", "tflite-runtime==2.14.0")


def recipe_py39(mirror: str | None = None) -> RootfsRecipe:
    """bullseye's own amd64 Python 3.9 with only numpy and tflite-runtime (run natively in a chroot)."""
    return RootfsRecipe(
        suite="bullseye",
        arch="amd64",
        python_version="3.9",
        wheel_platforms=("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        wheels=PY39_WHEELS,
        mirror=mirror or os.environ.get("DEPLOY_COMPARE_DEBIAN_MIRROR") or RootfsRecipe.mirror,
    )


def recipe_from_lock(lock: Path, mirror: str | None = None) -> RootfsRecipe:
    wheels = lock_pins(lock, ("numpy", "ai-edge-litert"))
    return RootfsRecipe(
        wheels=wheels,
        cpus=os.cpu_count() or 1,
        mirror=mirror or os.environ.get("DEPLOY_COMPARE_DEBIAN_MIRROR") or RootfsRecipe.mirror,
    )


#: the Hardware line of the guest's /proc/cpuinfo; run_edge.py's detect_emulation looks for it
EMULATED_HARDWARE = "qemu-user emulation (deploy-compare arm64 rootfs)"


def guest_cpuinfo(cpus: int) -> str:
    """An aarch64 /proc/cpuinfo (Cortex-A72 cores, as in a Raspberry Pi 4) for the emulated guest."""
    entry = (
        "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    )
    return "".join(entry.format(i=i) for i in range(max(1, cpus))) + f"Hardware\t: {EMULATED_HARDWARE}\n"


def check_tools(recipe: RootfsRecipe = RootfsRecipe()) -> None:
    runner = (EMULATOR,) if recipe.emulated else ("unshare", "chroot")
    missing = [tool for tool in (*runner, "debootstrap", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise EmulationUnavailable(
            f"not installed: {', '.join(missing)} (Debian: apt-get install qemu-user-static debootstrap util-linux)"
        )


def _run(step: str, cmd: list[str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        raise RootfsBuildError(f"{step} failed (exit {proc.returncode}); log {log}: " + " | ".join(tail))


def _merge_usr(root: Path) -> None:
    """bookworm is merged-/usr: /bin, /sbin and /lib are links into /usr (the dynamic loader lives there)."""
    for name in MERGED_USR:
        top = root / name
        if top.is_dir() and not top.is_symlink():
            shutil.copytree(top, root / "usr" / name, symlinks=True, dirs_exist_ok=True)
            shutil.rmtree(top)
        if not top.is_symlink():
            top.symlink_to(f"usr/{name}")


def build_rootfs(recipe: RootfsRecipe, cache_dir: Path, progress: Callable[[str], None] = print) -> Path:
    """The root file system for `recipe`, built into cache_dir/<key> once and reused."""
    target = Path(cache_dir) / recipe.key()
    if (target / READY).exists():
        return target
    check_tools(recipe)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    log = Path(cache_dir) / f"{recipe.key()}.build.log"
    log.write_text("", encoding="utf-8")
    try:
        root, downloads, wheels = work / "root", work / "debootstrap", work / "wheels"
        name = f"{recipe.suite} {recipe.arch} rootfs"
        progress(f"{name}: downloading packages (log {log})")
        _run(
            "debootstrap --download-only",
            [
                "debootstrap",
                "--download-only",
                f"--arch={recipe.arch}",
                "--variant=minbase",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(downloads),
                recipe.mirror,
            ],
            log,
        )
        debs = sorted((downloads / "var/cache/apt/archives").glob("*.deb"))
        if not debs:
            raise RootfsBuildError(f"debootstrap downloaded no packages (log {log})")
        progress(f"{name}: unpacking {len(debs)} packages")
        root.mkdir()
        for deb in debs:
            _run(f"dpkg-deb -x {deb.name}", ["dpkg-deb", "-x", str(deb), str(root)], log)
        _merge_usr(root)
        if not (root / recipe.python).exists():
            raise RootfsBuildError(f"{recipe.python} is not in the unpacked packages (log {log})")
        (root / "proc").mkdir(exist_ok=True)
        (root / "dev").mkdir(exist_ok=True)  # a chroot binds this machine's /dev here
        if recipe.emulated:  # a native chroot mounts the real /proc over this directory instead
            (root / "proc" / "cpuinfo").write_text(guest_cpuinfo(recipe.cpus), encoding="utf-8")

        progress(f"{name}: downloading wheels {', '.join(recipe.wheels)}")
        platforms = [arg for p in recipe.wheel_platforms for arg in ("--platform", p)]
        _run(
            "pip download",
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                *platforms,
                "--python-version",
                recipe.python_version,
                "--implementation",
                "cp",
                "--dest",
                str(wheels),
                *recipe.wheels,
            ],
            log,
        )
        site = root / recipe.site_packages
        site.mkdir(parents=True, exist_ok=True)
        installed = []
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
            installed.append(wheel.name)
        (root / READY).write_text(
            json.dumps({**asdict(recipe), "key": recipe.key(), "debs": len(debs), "wheels": installed}, indent=2),
            encoding="utf-8",
        )
        shutil.rmtree(downloads)
        root.rename(target)  # atomic: a half-built tree never has the target's name
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"{recipe.suite} {recipe.arch} rootfs: ready at {target}")
    return target


def emulator_prefix(root: Path) -> list[str]:
    """The command that starts an aarch64 binary of `root` here: qemu with `root` as its library prefix."""
    return [EMULATOR, "-cpu", CPU, "-L", str(root)]


def python_command(root: Path, recipe: RootfsRecipe = RootfsRecipe()) -> list[str]:
    """argv[0:] that starts the recipe's emulated Python (append the script and its arguments)."""
    return [*emulator_prefix(root), str(root / recipe.python)]


def chroot_python_command(root: Path, recipe: RootfsRecipe) -> list[str]:
    """argv[0:] that starts the root file system's own Python in a chroot of this machine's architecture.

    Paths after it are the chroot's: copy what it must read into `root` first. unshare gives the
    chroot a mount namespace of its own, gone with the process: a fresh /proc (run_edge.py reads
    /proc/self/status and /proc/cpuinfo) and this machine's /dev bound in (the unpacked packages
    hold no device nodes; subprocess needs /dev/null). Needs root (CI runs as root)."""
    if recipe.emulated:
        raise EmulationUnavailable(f"{recipe.arch} is not this machine's architecture: use python_command")
    check_tools(recipe)
    # absolute paths: callers pass a minimal PATH, and chroot lives in /usr/sbin
    unshare, chroot, mount = (shutil.which(tool) or tool for tool in ("unshare", "chroot", "mount"))
    enter = f'{mount} --rbind /dev "$0/dev" && exec {chroot} "$0" "$@"'
    namespace = [unshare, "--mount", "--pid", "--fork", f"--mount-proc={root / 'proc'}"]
    return [*namespace, "/bin/sh", "-c", enter, str(root), "/" + recipe.python]
