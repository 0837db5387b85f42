"""The terminal websockets against the real server (`ao dashboard`), real tmux sessions of the
shell agent: one shared view per session however many viewers, read-only until a viewer
unlocks input, resize reaching the session, late viewers seeing the screen, the token and
`Origin` checks; and the shared view itself (``ao.web.terminal``) restarting when its
history is full."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from ao.web import terminal
from tests.sessionkit import Project, wait_for
from tests.webkit import Board, Term

pytestmark = pytest.mark.tmux


def start(proj: Project, task: str = "echo started-$((40+2))") -> str:
    r = proj.ao("new", task, "--json")
    assert r.returncode == 0, r.stderr
    return "d-1"


def clients(proj: Project) -> list[str]:
    """The tmux clients attached to the session (what views it)."""
    out = proj.server.cmd("list-clients", "-F", "#{client_session}").stdout
    return [line for line in out if line]


def test_one_view_per_session_however_many_viewers(board: Board, proj: Project) -> None:
    sid = start(proj)
    viewers = [Term(board, sid, cols=100, rows=30) for _ in range(3)]
    for v in viewers:
        v.see("started-42")  # each replays the screen: the task's output is on it
    assert len(clients(proj)) == 1, clients(proj)
    with board.client() as c:
        assert c.get("/api/health").json()["terminals"] == {"views": 1, "viewers": 3}

    writer = viewers[0]
    writer.send(type="unlock")
    writer.wait(lambda v: {"type": "input", "unlocked": True} in v.controls)
    writer.type("echo typed-$((6*7))\r")
    for v in viewers:  # one view: everyone sees what one typed
        v.see("typed-42")

    for v in viewers:
        v.close()
    wait_for(lambda: clients(proj) == [], 10, "the view to end with its last viewer")
    with board.client() as c:
        assert c.get("/api/health").json()["terminals"] == {"views": 0, "viewers": 0}


def test_input_is_read_only_until_unlocked(board: Board, proj: Project) -> None:
    sid = start(proj)
    term = Term(board, sid)
    term.see("started-42")
    term.type("echo locked-$((1+1))\r")
    term.ws.send(b"echo binary-$((2+2))\r")
    term.wait(lambda v: v.controls.count({"type": "input", "unlocked": False}) >= 2)
    time.sleep(1.5)
    screen = proj.ao("logs", sid).stdout
    assert "locked-2" not in screen and "binary-4" not in screen, screen

    term.send(type="unlock")
    term.ws.send(b"echo binary-$((2+2))\r")  # raw bytes, as a browser's binary frame
    term.see("binary-4")
    term.send(type="lock")
    term.wait(lambda v: v.controls[-1] == {"type": "input", "unlocked": False})
    term.type("echo relocked-$((3+3))\r")
    time.sleep(1.5)
    assert "relocked-6" not in proj.ao("logs", sid).stdout
    term.close()


def test_resize_reaches_the_session_and_every_viewer(board: Board, proj: Project) -> None:
    sid = start(proj)
    first = Term(board, sid, cols=90, rows=25)
    first.see("started-42")
    assert first.controls[0] == {"type": "size", "cols": 90, "rows": 25}
    second = Term(board, sid, cols=120, rows=40)  # joins the running view: its size
    second.wait(lambda v: bool(v.controls))
    assert second.controls[0] == {"type": "size", "cols": 90, "rows": 25}

    second.send(type="resize", cols=101, rows=33)
    for v in (first, second):
        v.wait(lambda v: {"type": "size", "cols": 101, "rows": 33} in v.controls)
    name = proj.tmux_names()[0]

    def size() -> tuple[int, int]:
        fmt = "#{window_width} #{window_height}"
        out = proj.server.cmd("display-message", "-p", "-t", f"={name}:", fmt).stdout
        cols, rows = out[0].split()
        return int(cols), int(rows)

    # the window takes the view's size (less a line when the runtime shows a status line)
    wait_for(lambda: size()[0] == 101 and size()[1] in (32, 33), 10, "the window to follow")
    second.send(type="unlock")

    def agent_sees_it() -> bool:  # tmux resizes a pane's terminal a moment after its window
        second.type("stty size\r")
        second.pump(0.5)
        return f"{size()[1]} 101" in second.text

    wait_for(agent_sees_it, 10, "the agent's terminal to have that size too")
    first.close()
    second.close()


def test_a_late_viewer_sees_the_screen_so_far(board: Board, proj: Project) -> None:
    sid = start(proj, "echo first-$((10+1))")
    early = Term(board, sid)
    early.see("first-11")
    early.send(type="unlock")
    early.type("echo second-$((20+2))\r")
    early.see("second-22")
    late = Term(board, sid)
    late.see("second-22")  # replayed: nothing was printed since
    assert "first-11" in late.text
    early.close()
    late.close()


def test_the_terminal_needs_the_token_and_its_own_origin(board: Board, proj: Project) -> None:
    sid = start(proj)
    for token in (None, "wrong"):
        with pytest.raises(InvalidStatus) as refused:
            Term(board, sid, token=token)
        assert refused.value.response.status_code == 403, token
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(
            f"ws://127.0.0.1:{board.port}/api/sessions/{sid}/terminal",
            additional_headers={"Authorization": f"Bearer {board.token}"},
            origin=Origin("http://evil.example"),  # a page of another site
        ),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_a_session_without_a_view_is_an_error_message(board: Board, proj: Project) -> None:
    term = Term(board, "d-9")
    term.wait(lambda v: v.closed)
    assert term.controls[0]["type"] == "error" and term.controls[0]["error"]["code"] == 4
    assert term.ws.close_code == 4004


def test_the_view_restarts_when_its_history_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """A view that printed more than ``HISTORY`` is started again; viewers get ``reset``
    and the history starts over, so a late viewer replays at most about that much."""
    monkeypatch.setattr(terminal, "HISTORY", 64 * 1024)
    script = "import sys, time\nfor i in range(400): print('x' * 400, flush=True)\ntime.sleep(30)"

    async def scenario() -> tuple[int, list[str], int]:
        hub = terminal.TerminalHub()
        seen: list[str] = []
        async with hub.viewing([sys.executable, "-c", script], 80, 24) as (view, viewer):
            async for frame in viewer.frames():
                if isinstance(frame, str):
                    seen.append(frame)
                if view.starts >= 2 and '{"type":"reset"}' in seen:
                    break
            history = view.history_bytes
        hub.close()
        return view.starts, seen, history

    starts, seen, history = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert starts >= 2 and '{"type":"reset"}' in seen
    assert history <= 64 * 1024 + terminal.READ_SIZE
