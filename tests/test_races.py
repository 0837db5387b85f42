"""Concurrent commands on one session or one config, against real tmux and git.

Each test starts several real `ao` processes at once and checks what must hold whatever
order the kernel runs them in: one operation at a time per session, no slot taken twice.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux


def _all(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str]]:
    done = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        done.append((p.returncode, out + err))
    return done


def _namespace() -> Path:
    return next(Path(os.environ["AO_HOME"]).glob("*-demo"))


def test_stop_racing_restore_never_leaves_an_agent_without_a_record(proj: Project) -> None:
    """Issue #8.1: `ao stop --force & ao restore` on one id, six rounds. Either the
    session is live (record, running pane, worktree) or it is archived with nothing
    running; never a live agent whose record is gone or whose worktree was deleted."""
    assert proj.ao("new", "sleep 600", "--agent", "shell", "--name", "s4").returncode == 0
    for _ in range(6):
        results = _all([proj.popen("stop", "s4", "--force"), proj.popen("restore", "s4")])
        for code, text in results:
            # a restore that ran while the session was still live and running says so
            assert code == 0 or "still running" in text or "is busy" in text, text
        live = proj.ao_json("list")
        names = proj.tmux_names()
        if live:
            (session,) = live  # type: ignore[misc]
            assert session["tmux"] in names
            assert Path(session["worktree"]).is_dir()
            assert session["status"] in ("working", "ready"), session
        else:
            assert not [n for n in names if n.endswith("-s4")], names
            assert proj.ao("restore", "s4").returncode == 0


def test_parallel_sends_arrive_one_message_per_input(proj: Project) -> None:
    """Issue #8.2: six concurrent `ao send` to one session each arrive as their own
    submitted input, never merged into one line."""
    proj.use_receiver()
    assert proj.ao("new", "go").returncode == 0
    wait_for(lambda: proj.received() == ["go"], what="the task")
    procs = [proj.popen("send", "d-1", f"echo MSG-{i} >> m.log") for i in range(6)]
    results = _all(procs)
    assert all(code == 0 for code, _ in results), results
    got = wait_for(lambda: len(proj.received()) >= 7 and proj.received(), what="six messages")
    assert sorted(got[1:]) == sorted(f"echo MSG-{i} >> m.log" for i in range(6))  # type: ignore[index]


def test_max_sessions_holds_against_parallel_spawns(proj: Project) -> None:
    """Issue #8.3: with maxSessions 3, eight parallel `ao new` start exactly three; the
    rest are queued (the check and the reservation are one step under a lock)."""
    proj.configure(top={"maxSessions": 3})
    procs = [proj.popen("new", "sleep 600", "--agent", "shell", "--json") for _ in range(8)]
    results = _all(procs)
    assert all(code == 0 for code, _ in results), results
    statuses = [s["status"] for s in proj.ao_json("list")]  # type: ignore[union-attr]
    assert len(statuses) == 8
    assert statuses.count("queued") == 5, statuses
    assert len(proj.tmux_names()) == 3


def test_running_out_of_port_blocks_queues_instead_of_failing(proj: Project) -> None:
    """Issue #8.19: a full port range queues the session like maxSessions; no errored record."""
    proj.configure(top={"ports": {"base": 47300, "blockSize": 2, "blocks": 2}})
    for _ in range(3):
        r = proj.ao("new", "sleep 600", "--agent", "shell", "--json")
        assert r.returncode == 0, r.stderr
    sessions = proj.ao_json("list")
    assert [s["status"] for s in sessions].count("queued") == 1  # type: ignore[union-attr]
    assert not [s for s in sessions if s["status"] == "errored"]  # type: ignore[union-attr]
    events = (_namespace() / "events.jsonl").read_text().splitlines()
    queued = [json.loads(e) for e in events if '"session.queued"' in e]
    assert "port block" in queued[0]["message"]


def test_default_port_range_does_not_cap_a_fleet() -> None:
    """Issue #8.19: the default range holds far more sessions than one machine runs."""
    from ao.config.sections import Ports

    ports = Ports()
    assert ports.blocks >= 1000
    assert ports.base + ports.blocks * ports.block_size <= 65536
