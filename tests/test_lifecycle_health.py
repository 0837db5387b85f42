"""`ao watch` end to end, continued: stuck agents, notifier failures, bad sessions, limits.

Real tmux sessions and real HTTP receivers, the fake SCM plugin through its entry point.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.fake_notifyd import Answer, Receiver
from tests.sessionkit import Project, wait_for
from tests.test_lifecycle import events, forge, set_pr, status, watch_once

pytestmark = pytest.mark.tmux
__all__ = ["forge"]  # the fixture, used by name


def actions(report: dict[str, object]) -> list[tuple[str, str]]:
    return [(a["reaction"], a["kind"]) for a in report["actions"]]  # type: ignore[attr-defined]


def test_a_stuck_agent_gets_the_nudge_in_its_pane_then_a_human_is_told(proj: Project) -> None:
    """A stuck agent reads as working, so the nudge must go to its pane, not to the
    outbox; a human hears only once the nudge had its cooldown and the agent is still stuck."""
    typed = proj.repo.parent / "typed.txt"
    proj.configure(
        agent_command=["sh", "-c", f"echo started; exec cat > {typed}"],
        top={"reactions": {"agent-stuck": {"threshold": "3s", "cooldown": "3s"}}},
    )
    assert proj.ao("new", "").returncode == 0
    wait_for(lambda: "started" in proj.ao("logs", "d-1").stdout, what="the agent")
    time.sleep(4.1)  # tmux keeps activity times in whole seconds

    first = watch_once(proj)
    assert [t["to"] for t in first["transitions"]] == ["stuck"]  # type: ignore[union-attr]
    assert actions(first) == [("agent-stuck", "send")]
    assert first["actions"][0]["ok"], first  # type: ignore[index]
    # the agent's stdin got the nudge, and it shows in its pane
    wait_for(lambda: typed.exists() and "no progress" in typed.read_text(), what="the nudge")
    assert "no progress" in proj.ao("logs", "d-1").stdout
    assert not list(Path(proj.repo.parent).glob("home/**/outbox/d-1/*"))  # not queued
    assert events("notification") == []

    second = watch_once(proj)  # the nudge's echo is not progress; its cooldown runs
    assert second["transitions"] == [] and second["actions"] == []
    assert status(proj) == "stuck"  # `ao list` shows it, though the pane reads as working
    assert "stuck" in proj.ao("status").stdout

    time.sleep(3.1)
    third = watch_once(proj)
    assert actions(third) == [("agent-stuck", "escalate")]
    (note,) = events("notification")
    assert note["data"]["reaction"] == "agent-stuck"  # type: ignore[index]
    (nudge,) = events("reaction.send")
    assert str(nudge["ts"]) < str(note["ts"])
    assert watch_once(proj)["actions"] == []  # once


def test_a_hanging_notifier_neither_blocks_the_tick_nor_loses_notifications(
    proj: Project,
) -> None:
    with Receiver(default=Answer(hang=True)) as hook:
        proj.configure(
            agent_command=["sh", "-c", "exit 0"],
            top={
                "notifiers": {
                    "ops": {"plugin": "webhook", "url": f"{hook.url}/ao", "timeout": 2,
                            "retries": 0},
                },
                "defaults": {"notifiers": ["ops"]},
            },
        )  # fmt: skip
        for _ in range(3):
            assert proj.ao("new", "").returncode == 0
        wait_for(
            lambda: all(s["activity"] == "exited" for s in proj.ao_json("list")),  # type: ignore[union-attr]
            what="exits",
        )
        first = watch_once(proj)
        notes = first["notifications"]
        assert len(notes) == 4 and not any(n["ok"] for n in notes)  # type: ignore[union-attr]
        # 3 × agent-exited + all-complete, each 2 s against a hung receiver: concurrent
        # (one after another would take 8 s)
        assert first["seconds"] < 6, first["seconds"]  # type: ignore[operator]
        assert len(hook.requests) == 4
        assert len(events("notification.failed")) == 4

        hook.default = Answer()  # the receiver recovers
        # a failed notification waits (30 s, doubling) before it is tried again
        assert watch_once(proj)["notifications"] == [] and len(hook.requests) == 4
        outbox = next(Path(os.environ["AO_HOME"]).glob("*-demo/notify-outbox"))
        for path in outbox.glob("*.json"):  # let the backoff run out
            entry = json.loads(path.read_text())
            assert entry["retry_at"] - entry["created"] >= 29, entry
            path.write_text(json.dumps({**entry, "retry_at": 0}))
        second = watch_once(proj)
        assert second["actions"] == []  # the reactions are done; only delivery is retried
        assert [n["ok"] for n in second["notifications"]] == [True] * 4  # type: ignore[union-attr]
        assert len(hook.requests) == 8
        bodies = [r.json()["message"] for r in hook.requests[4:]]
        assert sum("agent exited" in b for b in bodies) == 3
        assert watch_once(proj)["notifications"] == []  # delivered once, not again
        assert len(hook.requests) == 8


def test_one_sessions_error_does_not_end_the_pass(proj: Project, forge: Path) -> None:
    proj.use_receiver(
        scm="fake", repo="acme/demo", top={"reactions": {"ci-failed": {"cooldown": "0s"}}}
    )
    for _ in range(2):
        assert proj.ao("new", "go").returncode == 0
    wait_for(lambda: proj.received() == ["go", "go"], what="tasks")
    for i in (1, 2):
        set_pr(forge, f"ao/d-{i}", checks=[{"name": "t", "state": "failing"}])
    assert actions(watch_once(proj)) == [("ci-failed", "send")] * 2
    # d-1's second send cannot take its operation lock: a file the OS refuses to open
    lock = next(Path(proj.repo.parent).glob("home/.agent-orchestrator/*-demo/locks/op-d-1.lock"))
    lock.unlink()
    lock.mkdir()

    report = watch_once(proj)
    ((session, error),) = [(e["session"], e["error"]) for e in report["errors"]]  # type: ignore[union-attr]
    assert session == "d-1" and "op-d-1.lock" in error
    assert [(a["session"], a["kind"]) for a in report["actions"]] == [("d-2", "send")]  # type: ignore[union-attr]
    (logged,) = events("tick.error")
    assert logged["session"] == "d-1"


def test_sessions_with_a_pr_count_against_the_session_limit(proj: Project, forge: Path) -> None:
    proj.configure(scm="fake", repo="acme/demo", maxSessions=1)
    assert proj.ao("new", "sleep 30").returncode == 0
    set_pr(forge, "ao/d-1", review_decision="review_required")
    watch_once(proj)
    assert status(proj) == "review_pending"
    r = proj.ao("new", "echo second")
    assert r.returncode == 0 and r.stdout.startswith("queued d-2"), r.stdout
    set_pr(forge, "ao/d-1", state="merged")  # the first one ends: its slot frees
    report = watch_once(proj)
    assert ("d-2", "working") in [(t["session"], t["to"]) for t in report["transitions"]]  # type: ignore[union-attr]


def test_auto_false_tells_a_human_instead_of_acting(proj: Project, forge: Path) -> None:
    proj.use_receiver(
        scm="fake", repo="acme/demo", top={"reactions": {"ci-failed": {"auto": False}}}
    )
    assert proj.ao("new", "go").returncode == 0
    wait_for(lambda: proj.received() == ["go"], what="task")
    set_pr(forge, "ao/d-1", checks=[{"name": "t", "state": "failing", "log_excerpt": "E boom"}])
    assert actions(watch_once(proj)) == [("ci-failed", "notify")]
    assert watch_once(proj)["actions"] == []
    assert proj.received() == ["go"]  # the agent was not sent anything
    (note,) = events("notification")
    assert "auto is off" in note["data"]["body"] and "E boom" in note["data"]["body"]  # type: ignore[index]


def test_an_exited_agents_pr_is_still_followed(proj: Project, forge: Path) -> None:
    proj.configure(scm="fake", repo="acme/demo", agent_command=["sh", "-c", "exit 0"])
    assert proj.ao("new", "").returncode == 0
    wait_for(lambda: proj.ao_json("list")[0]["activity"] == "exited", what="exit")  # type: ignore[index]
    watch_once(proj)
    assert status(proj) == "exited"
    set_pr(forge, "ao/d-1", checks=[{"name": "t", "state": "failing", "log_excerpt": "E boom"}])
    assert actions(watch_once(proj)) == [("ci-failed", "notify")]  # nobody to send it to
    note = events("notification")[-1]
    assert "ao restore d-1" in note["data"]["body"] and "E boom" in note["data"]["body"]  # type: ignore[index]
    set_pr(forge, "ao/d-1", state="merged")
    merged = watch_once(proj)
    assert [(t["from"], t["to"]) for t in merged["transitions"]] == [("exited", "merged")]  # type: ignore[union-attr]
    done = watch_once(proj)
    assert [(t["from"], t["to"]) for t in done["transitions"]] == [("merged", "done")]  # type: ignore[union-attr]
