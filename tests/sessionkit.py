"""Shared pieces of the end-to-end tests: a configured repo on a private tmux server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import typing as t
from collections.abc import Callable
from pathlib import Path

import libtmux
import pytest
import yaml

if t.TYPE_CHECKING:
    from tests.conftest import RunAo

RECEIVER = Path(__file__).parent / "fixtures" / "receiver.py"


class Project:
    """A configured repo whose sessions run on the test's private tmux server."""

    def __init__(self, repo: Path, server: libtmux.Server, ao: RunAo) -> None:
        self.repo = repo
        self.server = server
        self._ao = ao
        self.inbox = repo.parent / "inbox.jsonl"

    def configure(self, **project: object) -> None:
        agent_command = project.pop("agent_command", None)
        shell_options = t.cast(dict[str, object], project.pop("shell_options", {}))
        top = t.cast(dict[str, object], project.pop("top", {}))
        config: dict[str, object] = {
            "defaults": {"agent": "shell"},
            "projects": {"demo": {"path": str(self.repo), "sessionPrefix": "d", **project}},
            **top,
        }
        if agent_command or shell_options:
            options = {**shell_options, **({"command": agent_command} if agent_command else {})}
            config["agents"] = {"shell": options}
        (self.repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))

    def use_receiver(self, **project: object) -> None:
        self.configure(agent_command=[sys.executable, str(RECEIVER), str(self.inbox)], **project)

    def received(self) -> list[str]:
        if not self.inbox.exists():
            return []
        return [json.loads(line)["text"] for line in self.inbox.read_text().splitlines()]

    def ao(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self._ao(*args, cwd=self.repo.parent, **kw)  # type: ignore[arg-type]

    def ao_json(self, *args: str) -> object:
        r = self.ao(*args, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["v"] == 1
        return doc["data"]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "ao", *args], cwd=self.repo.parent, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip

    def tmux_names(self) -> list[str]:
        return [s.session_name for s in self.server.sessions]


@pytest.fixture
def proj(
    git_repo: Path, server: libtmux.Server, ao: RunAo, monkeypatch: pytest.MonkeyPatch
) -> Project:
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    p = Project(git_repo, server, ao)
    p.configure()
    return p


def wait_for(
    predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition"
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def attach_type_and_detach(argv: list[str], screen: str, line: str, out: Path) -> None:
    """Run ``argv`` (a runtime's attach command) in a real terminal (a PTY): wait for
    ``screen`` to arrive, type ``line`` + Enter, wait for the agent to write it to ``out``,
    then detach with tmux's prefix and ``d``; the command must exit 0."""
    import os
    import pty
    import select
    import shutil

    pid, fd = pty.fork()
    if pid == 0:  # the user's terminal
        os.environ["TERM"] = "xterm"
        os.execv(t.cast(str, shutil.which(argv[0])), argv)
    seen = b""
    deadline = time.monotonic() + 60  # a busy machine: ssh, tmux and the attach all start
    while screen.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], 1)
        assert time.monotonic() < deadline, seen[-300:]
        if ready:
            seen += os.read(fd, 65536)
    os.write(fd, line.encode() + b"\r")
    wait_for(lambda: out.exists() and out.read_text() == line + "\n", timeout=60,
             what="the typed line")  # fmt: skip
    os.write(fd, b"\x02d")  # tmux's prefix, then d: detach
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
