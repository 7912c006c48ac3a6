"""A real OpenSSH server on 127.0.0.1 for the ssh tier: the "device" edge-run reaches.

Everything lives in one temporary directory: a host key, a user key (the only key its
authorized_keys holds), a second key it does not know, its own sshd_config (no PAM, no
passwords, only that key, internal sftp for scp) and a known_hosts file for the client,
so nothing of the machine's own ssh setup is read or changed. sshd runs in the
foreground (-D) as a child of the test session and is stopped after it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
"""


def sshd_available() -> str | None:
    """Why the ssh tier cannot run here, or None."""
    missing = [tool for tool in (SSHD, "ssh", "scp", "ssh-keygen") if shutil.which(tool) is None]
    return f"not installed: {', '.join(missing)} (Debian: apt-get install openssh-server)" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SshServer:
    def __init__(self, root: Path) -> None:
        self.dir = Path(root)
        self.user = getpass.getuser()
        self.port = 0
        self.proc: subprocess.Popen | None = None
        for name in ("host_ed25519", "user_ed25519", "stranger_ed25519"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)], check=True)
        shutil.copy(self.dir / "user_ed25519.pub", self.dir / "authorized_keys")

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def client_options(self, key: str = "user_ed25519") -> list[str]:
        """--ssh-option values: this server's known_hosts and one key, nothing of ~/.ssh or an agent."""
        return [
            f"UserKnownHostsFile={self.dir / 'known_hosts'}",
            f"IdentityFile={self.dir / key}",
            "IdentitiesOnly=yes",
            "IdentityAgent=none",
        ]

    def start(self) -> None:
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.port = _free_port()
        (self.dir / "sshd_config").write_text(CONFIG.format(port=self.port, dir=self.dir, user=self.user))
        host_key = (self.dir / "host_ed25519.pub").read_text().split()[:2]
        (self.dir / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {' '.join(host_key)}\n")
        log = open(self.dir / "sshd.log", "w")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited {self.proc.returncode}: {(self.dir / 'sshd.log').read_text()}")
            ssh = ["ssh", *(a for o in self.client_options() for a in ("-o", o)), "-o", "BatchMode=yes"]
            probe = subprocess.run([*ssh, "-p", str(self.port), f"{self.user}@127.0.0.1", "true"], capture_output=True)
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"sshd on port {self.port} did not accept the key in 20 s: {probe.stderr!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
