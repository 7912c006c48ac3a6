"""Run an edge bundle on a device over SSH: check, copy, run, fetch; the device left as found.

    device = RemoteDevice(EdgeHost(...))
    outcome = device.run_bundle(bundle, fetch_dir, RunOptions(quick=True), progress=print)
    # outcome.result: the fetched run_edge.py JSON (validate + ingest it: edge/ingest.py)

Order: the device's Python, numpy and TFLite runtime are checked first (one line naming
what to install), then the bundle is copied into a fresh `mktemp -d` directory, run_edge.py
runs there with its progress lines passed through, the result is fetched, and the
directory is removed (unless keep=True). A run that ends without its result (killed on the
device, connection lost) raises DeviceRunKilled after fetching the rows it measured
(run_edge.py writes them after each row to <out>.partial), so nothing measured is lost.
"""

from __future__ import annotations

import json
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError, DeviceRunKilled, DeviceSetupError
from ..fileio import size_of
from .hosts import EdgeHost
from .runner import PARTIAL_SUFFIX
from .ssh import SSH_ERROR_STATUS, Ssh, ssh_error

RESULT_NAME = "result.json"
PID_NAME = "run.pid"
MIN_PYTHON = (3, 9)
#: runs under the device's Python (any 3.x): what the bundle needs, as JSON on one line
PROBE = (
    "import json, platform, sys\n"
    "info = {'python': list(sys.version_info[:3]), 'machine': platform.machine(), 'numpy': None, 'runtime': None}\n"
    "try:\n import numpy; info['numpy'] = numpy.__version__\nexcept Exception: pass\n"
    "for module, name in (('ai_edge_litert.interpreter', 'ai-edge-litert'), ('tflite_runtime.interpreter', 'tflite-runtime')):\n"
    " try:\n  __import__(module); info['runtime'] = name; break\n except Exception: pass\n"
    "print(json.dumps(info))\n"
)


@dataclass(frozen=True)
class RunOptions:
    """run_edge.py's arguments (besides the device's own: label, threads, emulator)."""

    quick: bool = False
    only: tuple[str, ...] = ()
    keep: bool = False  # leave the copied bundle and its result on the device


@dataclass
class DeviceInfo:
    python: str
    machine: str
    numpy: str
    runtime: str


@dataclass
class Outcome:
    info: DeviceInfo
    remote_dir: str
    copied_files: int
    copied_bytes: int
    copy_s: float
    run_s: float
    result: Path


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class RemoteDevice:
    def __init__(self, host: EdgeHost) -> None:
        self.host = host
        self.ssh = Ssh(host.target, host.ssh_options)

    def probe(self) -> DeviceInfo:
        """The device's Python, numpy and TFLite runtime; DeviceSetupError naming what to install."""
        python = self.host.python
        proc = self.ssh.run(f"{shlex.quote(python)} -c {shlex.quote(PROBE)}")
        if proc.returncode == 127:
            raise DeviceSetupError(
                f"device {self.host.target}: {python} not found; install Python >= 3.9 there "
                f"(Debian/Raspberry Pi OS: apt install python3) or pass --python PATH"
            )
        try:
            info = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            tail = proc.stderr.strip().splitlines()
            raise DeviceSetupError(
                f"device {self.host.target}: {python} did not run (exit {proc.returncode}): {tail[-1] if tail else ''}"
            ) from None
        version = tuple(info["python"])
        if version < MIN_PYTHON:
            raise DeviceSetupError(
                f"device {self.host.target}: {python} is Python {'.'.join(map(str, version))}; the bundle needs >= 3.9"
            )
        missing = [name for key, name in (("numpy", "numpy"), ("runtime", "ai-edge-litert")) if not info[key]]
        if missing:
            alternative = " (or tflite-runtime)" if "ai-edge-litert" in missing else ""
            raise DeviceSetupError(
                f"device {self.host.target}: {python} lacks {' and '.join(missing)}; on the device: "
                f"{python} -m pip install {' '.join(missing)}{alternative}"
            )
        return DeviceInfo(".".join(map(str, version)), info["machine"], info["numpy"], info["runtime"])

    def _run_command(self, remote_dir: str, options: RunOptions) -> str:
        args = ["run_edge.py", "--device", self.host.label, "--out", f"../{RESULT_NAME}"]
        args += ["--threads", ",".join(map(str, self.host.threads))]
        args += ["--quick"] if options.quick else []
        args += ["--only", ",".join(options.only)] if options.only else []
        args += ["--emulator", self.host.emulator] if self.host.emulator else []
        run = " ".join(shlex.quote(a) for a in [self.host.python, *args])
        # $$ is the session's process group (sshd starts it with setsid): the stop below kills them all;
        # the status is passed on explicitly, so a killed run says which signal (128 + N)
        return f"cd {shlex.quote(remote_dir)}/bundle && echo $$ > ../{PID_NAME} && {run}; exit $?"

    def run_bundle(
        self, bundle: Path, fetch_dir: Path, options: RunOptions, progress: Callable[[str], None]
    ) -> Outcome:
        info = self.probe()
        progress(
            f"device {self.host.target}: Python {info.python} ({info.machine}), numpy {info.numpy}, {info.runtime}"
        )
        remote_dir = self.ssh.check('mktemp -d "${TMPDIR:-/tmp}/deploy-compare-edge.XXXXXX"', "mktemp").strip()
        finished = False
        Path(fetch_dir).mkdir(parents=True, exist_ok=True)
        try:
            started = time.monotonic()
            self.ssh.copy_to(bundle, f"{remote_dir}/bundle")
            copy_s = time.monotonic() - started
            files = [p for p in Path(bundle).rglob("*") if p.is_file()]
            progress(
                f"copied {bundle} ({len(files)} files, {size_of(bundle) / 1024:.1f} KiB) to "
                f"{self.host.target}:{remote_dir}/bundle in {copy_s:.1f} s"
            )
            started = time.monotonic()
            status, stderr = self.ssh.stream(
                self._run_command(remote_dir, options), lambda line: progress(f"{self.host.label}: {line}")
            )
            run_s = time.monotonic() - started
            result = Path(fetch_dir) / f"{self.host.label}.json"
            if status not in (0, 1):  # run_edge.py: 0 every row OK, 1 some FAILED; both wrote the result
                self._ended_early(status, stderr, remote_dir, result)
            self.ssh.copy_from(f"{remote_dir}/{RESULT_NAME}", result)
            finished = True
            return Outcome(info, remote_dir, len(files), size_of(bundle), copy_s, run_s, result)
        finally:
            self._clean_up(remote_dir, options.keep, stop=not finished, progress=progress)

    def _ended_early(self, status: int, stderr: str, remote_dir: str, result: Path) -> None:
        """Raise the one-line error of a run that wrote no result, after fetching its partial rows."""
        if status == SSH_ERROR_STATUS and (error := ssh_error(self.host.target, stderr)) is not None:
            raise error  # the connection itself failed: nothing can be fetched
        if status < 128:  # run_edge.py refused its arguments or the bundle (status 2): it measured nothing
            tail = [line for line in stderr.strip().splitlines() if line.strip()]
            raise DeviceError(
                f"device {self.host.target}: run_edge.py exited with status {status}: {tail[-1] if tail else ''}"
            )
        if status == SSH_ERROR_STATUS:
            how = "killed on the device or its connection closed (ssh exit 255, no error message)"
        else:
            how = f"killed on the device by {_signal_name(status - 128)}"
        partial = result.with_name(result.stem + ".partial.json")
        try:
            self.ssh.copy_from(f"{remote_dir}/{RESULT_NAME}{PARTIAL_SUFFIX}", partial)
            rows = len(json.loads(partial.read_text(encoding="utf-8"))["results"])
            kept = f"partial result ({rows} row(s)) kept in {partial}"
        except (DeviceError, OSError, ValueError, KeyError, TypeError):
            partial.unlink(missing_ok=True)
            kept = "no row was finished, nothing to keep"
        raise DeviceRunKilled(f"device {self.host.target}: run_edge.py {how}; {kept}")

    def _clean_up(self, remote_dir: str, keep: bool, stop: bool, progress: Callable[[str], None]) -> None:
        """Stop what still runs there (a failed or interrupted run), then remove the directory
        unless asked to keep it. Best effort: a device gone by now is said, never raised over the error."""
        quoted = shlex.quote(remote_dir)
        commands = [f"kill -TERM -- -$(cat {quoted}/{PID_NAME}) 2>/dev/null"] if stop else []
        commands += [] if keep else [f"rm -rf -- {quoted}"]
        if not commands:
            progress(f"kept on the device: {self.host.target}:{remote_dir}")
            return
        try:
            self.ssh.run("; ".join(commands) + "; true", timeout_s=30)
        except DeviceError as exc:
            progress(f"could not clean up {self.host.target}:{remote_dir}: {exc}")
            return
        progress(
            f"kept on the device: {self.host.target}:{remote_dir}" if keep else f"removed {remote_dir} from the device"
        )
