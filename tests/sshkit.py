"""Real ``sshd`` hosts for the ssh runtime's tests, started by the suite on loopback.

Each host is Debian's OpenSSH server on its own port of 127.0.0.1, with its own host key
and an ``authorized_keys`` holding only a key made for the test: key authentication only
(no password, no keyboard-interactive). Every host logs in as this user on this machine,
so worktree paths are the same there (the ssh runtime's shared-filesystem model); each
host's sessions live on its own tmux server. ``drop`` ends a host as a network failure
would: its listener and every connection it holds.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def require_sshd() -> None:
    """Skip the calling test when no OpenSSH server can run here."""
    if not Path(SSHD).exists():
        pytest.skip("no sshd here (apt-get install openssh-server)")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("no ssh client here (apt-get install openssh-client)")
    if os.geteuid() != 0 and not Path("/run/sshd").is_dir():
        pytest.skip("sshd needs /run/sshd, which only root can make")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SshHost:
    """One ``sshd`` on 127.0.0.1."""

    def __init__(self, root: Path, key: Path) -> None:
        self.root = root
        self.key = key
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "hostkey")],
                       check=True, timeout=30)  # fmt: skip
        (root / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'hostkey'}\n"
            f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\nPermitUserEnvironment no\nX11Forwarding no\n"
            "MaxSessions 50\nMaxStartups 50\nLogLevel ERROR\n"
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with (self.root / "sshd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"sshd did not start: {(self.root / 'sshd.log').read_text()}")

    def drop(self) -> None:
        """End the listener and every connection it serves (children it forked)."""
        if self.proc is None:
            return
        pid = self.proc.pid
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    children.append(int(entry.name))
        for target in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def options(self) -> dict[str, object]:
        """This host's entry for ``plugins.ssh.hosts``."""
        return {
            "target": f"{getpass.getuser()}@127.0.0.1",
            "port": self.port,
            "identity": str(self.key),
            "options": {"StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null",
                        "LogLevel": "QUIET" if os.environ.get("AO_SSH_QUIET") else "ERROR"},
        }  # fmt: skip


def client_key(directory: Path) -> Path:
    """A fresh ed25519 key pair for the test's client."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=30)  # fmt: skip
    return key


def start_hosts(root: Path, count: int) -> list[SshHost]:
    """``count`` running hosts sharing one client key."""
    require_sshd()
    key = client_key(root / "client")
    hosts = [SshHost(root / f"h{i + 1}", key) for i in range(count)]
    for host in hosts:
        host.start()
    return hosts


def stop_hosts(hosts: list[SshHost]) -> None:
    """End every host; the master connections made to them end with their connections
    (never ``pkill``: another test's masters may be in use)."""
    for host in hosts:
        host.drop()
