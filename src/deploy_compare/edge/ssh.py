"""The system's OpenSSH client (ssh, scp) as the edge path's transport to a device.

Why the system's client and not a Python SSH library: it is what the user already trusts
with their keys, agent, ~/.ssh/config (ProxyJump, aliases) and known_hosts, and it needs
no new dependency. Every call is an argument list with BatchMode=yes (a prompt would hang a
CI job: no password or host-key question is ever asked), and host-key checking stays the
user's: nothing here turns it off. `ssh_options` ("KEY=VALUE", as -o takes them) go first,
so they override the defaults here (ssh keeps the first value it reads for an option).

ssh exits 255 for its own errors and with the remote command's status otherwise; its
error lines are classified into one typed error each (unreachable, authentication).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import DeviceAuthError, DeviceError, DeviceUnreachable
from .hosts import SshTarget

SSH_ERROR_STATUS = 255
CONNECT_TIMEOUT_S = 10
#: a silent device (powered off, cable out) is given up after 15 s x 4 unanswered probes
DEFAULTS = ("BatchMode=yes", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "ServerAliveInterval=15", "ServerAliveCountMax=4")
_AUTH = ("Permission denied", "Too many authentication failures", "no mutual signature")
_UNREACHABLE = (
    "Connection refused",
    "Connection timed out",
    "timed out",
    "No route to host",
    "Network is unreachable",
    "Could not resolve hostname",
    "Name or service not known",
    "Connection closed by",
    "Connection reset",
    "kex_exchange_identification",
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
)
_HOST_KEY_HINT = (
    " (its key is not in your known_hosts: connect once with `ssh` to check and accept it, "
    "or pass --ssh-option UserKnownHostsFile=FILE)"
)


def ssh_error(target: SshTarget, stderr: str) -> DeviceError | None:
    """The typed error an ssh/scp failure stands for, from its error lines (None: not ssh's)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("Warning:")]
    for line in lines:
        if any(marker in line for marker in _AUTH):
            return DeviceAuthError(
                f"device {target}: authentication refused ({line}); is your key in its authorized_keys?"
            )
    for line in lines:
        if any(marker in line for marker in _UNREACHABLE):
            hint = _HOST_KEY_HINT if "Host key" in line or "IDENTIFICATION" in line else ""
            return DeviceUnreachable(f"device {target} unreachable: {line}{hint}")
    return None


def check_client() -> None:
    missing = [tool for tool in ("ssh", "scp") if shutil.which(tool) is None]
    if missing:
        raise DeviceError(f"not installed here: {', '.join(missing)} (Debian: apt-get install openssh-client)")


class Ssh:
    """ssh and scp to one target with one set of options."""

    def __init__(self, target: SshTarget, ssh_options: Sequence[str] = ()) -> None:
        check_client()
        self.target = target
        self.options = [arg for option in (*ssh_options, *DEFAULTS) for arg in ("-o", option)]

    def _remote(self, path: str) -> str:
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        user = f"{self.target.user}@" if self.target.user else ""
        return f"{user}{host}:{path}"

    def command(self, remote_command: str) -> list[str]:
        port = ["-p", str(self.target.port)] if self.target.port else []
        return ["ssh", *self.options, *port, "-T", "--", self.target.destination, remote_command]

    def _raise_for(self, proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode == 0:
            return
        error = ssh_error(self.target, proc.stderr or "")
        if error is not None:
            raise error
        tail = (proc.stderr or "").strip().splitlines()
        raise DeviceError(f"device {self.target}: {what} failed (exit {proc.returncode}): {tail[-1] if tail else ''}")

    def _call(self, argv: list[str], what: str, timeout_s: float) -> subprocess.CompletedProcess:
        """Run ssh or scp to completion; a hang past `timeout_s` is the device not answering."""
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise DeviceUnreachable(f"device {self.target}: {what}: no answer in {timeout_s:g} s") from None

    def run(self, remote_command: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
        """Run a short remote command; ssh's own failures raise, the command's status is returned."""
        proc = self._call(self.command(remote_command), "ssh", timeout_s)
        if proc.returncode == SSH_ERROR_STATUS:
            error = ssh_error(self.target, proc.stderr)
            if error is not None:
                raise error
        return proc

    def check(self, remote_command: str, what: str, timeout_s: float = 120.0) -> str:
        """Run a remote command that must succeed; its stdout."""
        proc = self.run(remote_command, timeout_s)
        self._raise_for(proc, what)
        return proc.stdout

    def stream(self, remote_command: str, on_line: Callable[[str], None]) -> tuple[int, str]:
        """Run a long remote command, each stdout line to `on_line` as it arrives; (status, stderr).

        On Ctrl-C the local ssh is stopped (the caller stops the remote side) and it propagates."""
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err:
            proc = subprocess.Popen(
                self.command(remote_command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                errors="replace",
                bufsize=1,
            )
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    on_line(line.rstrip("\n"))
                status = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:  # never hide the interrupt behind a stuck ssh
                        proc.kill()
                        proc.wait()
            err.seek(0)
            return status, err.read()

    def copy_to(self, local: Path, remote_path: str, timeout_s: float = 600.0) -> None:
        """scp -r `local` to `remote_path` on the device."""
        self._scp([str(local), self._remote(remote_path)], f"copying {local}", timeout_s)

    def copy_from(self, remote_path: str, local: Path, timeout_s: float = 120.0) -> None:
        self._scp([self._remote(remote_path), str(local)], f"fetching {remote_path}", timeout_s)

    def _scp(self, paths: list[str], what: str, timeout_s: float) -> None:
        port = ["-P", str(self.target.port)] if self.target.port else []
        self._raise_for(self._call(["scp", "-q", "-r", *self.options, *port, "--", *paths], what, timeout_s), what)
