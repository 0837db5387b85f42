"""Each session's own port block, seen by the real agent process in its tmux pane."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ao.session.ports import listening
from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux

# what the agent saw, written into its worktree; then it idles like an agent would
AGENT = ["sh", "-c", 'echo "$AO_PORT $AO_PORT_LAST $AO_PORTS" > ports.txt; exec sleep 600']


def _free_base(size: int) -> int:
    """A base whose whole range nothing listens on (tests run in parallel)."""
    for base in range(42000 + (os.getpid() % 50) * 200, 60000, 200):
        if not any(listening(p) for p in range(base, base + size)):
            return base
    raise AssertionError("no free port range")


def _seen(session: str) -> list[str]:
    path = next(Path(os.environ["AO_HOME"]).glob(f"*-demo/worktrees/{session}")) / "ports.txt"
    wait_for(lambda: path.exists() and path.read_text().strip(), what=f"{session}'s ports")
    return path.read_text().split()


def _new(proj: Project) -> str:
    made = proj.ao_json("new", "")  # no task: the agent is the program itself
    return str(made["id"])  # type: ignore[index]


def test_sessions_get_their_own_port_blocks(proj: Project) -> None:
    base = _free_base(20)
    proj.configure(agent_command=AGENT,
                   top={"ports": {"base": base, "blockSize": 5, "blocks": 4}})  # fmt: skip
    assert [_new(proj), _new(proj)] == ["d-1", "d-2"]
    assert _seen("d-1") == [str(base), str(base + 4), f"{base}-{base + 4}"]
    assert _seen("d-2") == [str(base + 5), str(base + 9), f"{base + 5}-{base + 9}"]
    status = proj.ao_json("status", "d-2")
    assert status["ports"] == f"{base + 5}-{base + 9}"  # type: ignore[index]

    # another program already listens on block 2's first port: it is skipped
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 10))
        taken.listen()
        assert _seen(_new(proj))[0] == str(base + 15)
        # every block is held or busy: a clear error, and nothing is left running
        r = proj.ao("new", "")
        assert r.returncode == 9, r.stderr
        assert "port blocks" in r.stderr and "ports.blocks" in r.stderr
    assert len(proj.tmux_names()) == 3

    # stopping frees a block for the next session; restore takes its own back if free
    assert proj.ao("stop", "d-1").returncode == 0
    assert _seen(_new(proj))[0] == str(base)
    assert proj.ao("stop", "d-2").returncode == 0
    (Path(os.environ["AO_HOME"]).glob("*-demo/worktrees/d-2").__next__() / "ports.txt").unlink()
    assert proj.ao("restore", "d-2").returncode == 0
    assert _seen("d-2")[0] == str(base + 5)
