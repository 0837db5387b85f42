"""`ao watch` end to end: real tmux sessions, a fake SCM plugin loaded through entry points."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux
FAKE_SCM = Path(__file__).parent / "fakes" / "fakescm"


@pytest.fixture
def forge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake forge's state file; the fake SCM plugin is importable through PYTHONPATH."""
    state = tmp_path / "forge.json"
    state.write_text(json.dumps({"prs": {}}))
    monkeypatch.setenv("AO_FAKE_SCM_STATE", str(state))
    monkeypatch.setenv("PYTHONPATH", str(FAKE_SCM))
    return state


def set_pr(forge: Path, branch: str, **pr: object) -> None:
    state = json.loads(forge.read_text())
    state["prs"][branch] = {"number": 7, "head_sha": "sha-1", **pr}
    forge.write_text(json.dumps(state))


def events(kind: str | None = None) -> list[dict[str, object]]:
    log = next(Path(os.environ["AO_HOME"]).glob("*-demo")) / "events.jsonl"
    found = [json.loads(line) for line in log.read_text().splitlines()]
    return [e for e in found if kind in (None, e["type"])]


def watch_once(proj: Project) -> dict[str, object]:
    data = proj.ao_json("watch", "--once")
    assert isinstance(data, dict)
    return data


def status(proj: Project) -> str:
    return proj.ao_json("list")[0]["status"]  # type: ignore[index,no-any-return]


def test_agent_exit_notifies_once_and_once_is_idempotent(proj: Project) -> None:
    proj.configure(agent_command=["sh", "-c", "echo working; sleep 0.5; exit 3"])
    assert proj.ao("new", "").returncode == 0
    wait_for(lambda: proj.ao_json("list")[0]["activity"] == "exited", what="exit")  # type: ignore[index]
    first = watch_once(proj)
    assert [t["to"] for t in first["transitions"]] == ["exited"]  # type: ignore[index]
    assert [a["reaction"] for a in first["actions"]] == ["agent-exited", "all-complete"]  # type: ignore[index]
    assert status(proj) == "exited"
    notes = events("notification")
    assert len(notes) == 2 and "exit" in str(notes[0]["data"]).lower()
    before = Path(next(Path(os.environ["AO_HOME"]).glob("*-demo/sessions/d-1"))).read_text()
    second = watch_once(proj)
    assert second["transitions"] == [] and second["actions"] == []
    assert len(events("notification")) == 2
    # nothing but the timestamp-free content changed on the second pass
    assert Path(next(Path(os.environ["AO_HOME"]).glob("*-demo/sessions/d-1"))).read_text() == before


def test_question_is_needs_input_notified_exactly_once_then_answered(proj: Project) -> None:
    proj.configure(
        agent_command=[
            "sh",
            "-c",
            'printf "Deploy to prod? [y/N] "; read a; echo "got $a"; exec sh',
        ],
        shell_options={"questionPattern": r"\[y/N\]\s*$"},
    )
    assert proj.ao("new", "").returncode == 0
    wait_for(lambda: "[y/N]" in proj.ao("logs", "d-1").stdout, what="question")
    for _ in range(3):
        watch_once(proj)
    assert status(proj) == "needs_input"
    notes = events("notification")
    assert len(notes) == 1
    assert "Deploy to prod?" in str(notes[0]["data"])  # the question travels with the notification
    r = proj.ao("send", "d-1", "y")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "got y" in proj.ao("logs", "d-1").stdout, what="answer")
    watch_once(proj)
    assert status(proj) == "ready"
    assert len(events("notification")) == 1


def test_failing_ci_sends_the_log_with_bounded_retries_then_escalates(
    proj: Project, forge: Path
) -> None:
    proj.use_receiver(
        scm="fake",
        repo="acme/demo",
        top={"reactions": {"ci-failed": {"retries": 2, "cooldown": "2s"}}},
    )
    assert proj.ao("new", "build the feature").returncode == 0
    wait_for(lambda: proj.received() == ["build the feature"], what="task")
    log = "FAILED tests/test_api.py::test_login - AssertionError: 401 != 200\n\x1b[31mred\x1b[0m"
    set_pr(forge, "ao/d-1", checks=[{"name": "pytest", "state": "failing", "url": "https://ci.test/1",
                                     "log_excerpt": log}])  # fmt: skip

    def kinds() -> list[str]:
        return [a["kind"] for a in watch_once(proj)["actions"]]  # type: ignore[union-attr]

    # each attempt, the last one included, gets its turn (the cooldown) before the next
    # step: a human hears only once the last attempt did not help
    assert (kinds(), kinds()) == (["send"], [])
    time.sleep(2.1)
    assert (kinds(), kinds()) == (["send"], [])
    time.sleep(2.1)
    assert (kinds(), kinds()) == (["escalate"], [])
    assert status(proj) == "ci_failed"
    sent = proj.received()[1:]
    assert len(sent) == 2
    assert "test_api.py::test_login" in sent[0] and "https://ci.test/1" in sent[0]
    assert "\x1b" not in sent[0] and "untrusted CI log" in sent[0]
    escalations = [n for n in events("notification") if n["data"]["reaction"] == "ci-failed"]  # type: ignore[index]
    assert len(escalations) == 1 and "test_login" in escalations[0]["data"]["body"]  # type: ignore[index]

    # a new push restarts the budget; CI passing then approval → mergeable
    set_pr(forge, "ao/d-1", head_sha="sha-2", checks=[{"name": "pytest", "state": "passing"}],
           review_decision="approved", mergeable=True)  # fmt: skip
    watch_once(proj)
    assert status(proj) == "mergeable"


def test_approved_and_green_merges_through_the_scm_plugin(proj: Project, forge: Path) -> None:
    proj.configure(
        scm="fake",
        repo="acme/demo",
        top={
            "reactions": {
                "approved-and-green": {"action": "merge", "strategy": "rebase", "deleteAfter": "0s"}
            }
        },
    )
    assert proj.ao("new", "true").returncode == 0
    set_pr(forge, "ao/d-1", checks=[{"name": "ci", "state": "passing"}], review_decision="approved",
           mergeable=True)  # fmt: skip
    first = watch_once(proj)
    assert [(a["reaction"], a["kind"], a["ok"]) for a in first["actions"]] == [  # type: ignore[union-attr]
        ("approved-and-green", "merge", True)
    ]
    assert json.loads(forge.read_text())["merges"] == [{"number": 7, "strategy": "rebase"}]
    watch_once(proj)
    assert status(proj) == "merged"
    assert len(json.loads(forge.read_text())["merges"]) == 1  # merged once, not per tick
    # deleteAfter 0s: the next pass cleans up; nothing was unpushed, so the worktree goes
    (merged,) = proj.ao_json("list")  # type: ignore[misc]
    report = watch_once(proj)
    assert [(t["to"], t["rule"]) for t in report["transitions"]] == [
        ("done", "cleaned up after merge")
    ]  # type: ignore[union-attr]
    assert proj.ao_json("list") == [] and not Path(merged["worktree"]).exists()


def test_a_refused_merge_reaches_a_human(proj: Project, forge: Path) -> None:
    proj.configure(
        scm="fake", repo="acme/demo", top={"reactions": {"approved-and-green": {"action": "merge"}}}
    )
    assert proj.ao("new", "true").returncode == 0
    set_pr(forge, "ao/d-1", review_decision="approved", mergeable=True)
    state = json.loads(forge.read_text())
    state["refuse_merge"] = "branch protection"
    forge.write_text(json.dumps(state))
    (action,) = watch_once(proj)["actions"]  # type: ignore[misc]
    assert action["ok"] is False and "branch protection" in action["detail"]
    assert any("branch protection" in n["data"]["body"] for n in events("notification"))  # type: ignore[index]


def test_custom_condition_rule(proj: Project, forge: Path) -> None:
    proj.use_receiver(
        scm="fake",
        repo="acme/demo",
        top={
            "reactions": {
                "tests-wanted": {
                    "condition": "label == 'needs-tests'",
                    "action": "send-to-agent",
                    "message": "Add tests for {{branch}}.",
                }
            }
        },
    )
    assert proj.ao("new", "go").returncode == 0
    wait_for(lambda: proj.received() == ["go"], what="task")
    set_pr(forge, "ao/d-1", labels=["needs-tests"])
    simulated = proj.ao("reactions", "simulate", "d-1")
    assert "would send (tests-wanted" in simulated.stdout and len(proj.received()) == 1
    watch_once(proj)
    assert proj.received()[-1] == "Add tests for ao/d-1."


def test_once_skips_while_another_pass_holds_the_lock(proj: Project) -> None:
    from ao.store.paths import watch_lock_path as lock_path

    lock = lock_path(proj.repo.parent / "agent-orchestrator.yaml")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        r = proj.ao("watch", "--once", "--timeout", "0")  # else it waits for the lock
        assert r.returncode == 0 and "skipping" in r.stderr
        r = proj.ao("watch")
        assert r.returncode == 5 and "already running" in r.stderr


def test_sigterm_ends_the_watcher_cleanly(proj: Project) -> None:
    assert proj.ao("new", "true").returncode == 0
    p = proj.popen("watch", "--interval", "0.5")
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0


def test_watcher_killed_mid_tick_loses_nothing(proj: Project, forge: Path) -> None:
    """kill -9 at arbitrary points: every record and event line stays readable, and a
    later pass completes the work (at-least-once)."""
    proj.use_receiver(
        scm="fake", repo="acme/demo", top={"reactions": {"ci-failed": {"retries": 1}}}
    )
    for _ in range(3):
        assert proj.ao("new", "go").returncode == 0
    for i in (1, 2, 3):
        set_pr(
            forge, f"ao/d-{i}", checks=[{"name": "t", "state": "failing", "log_excerpt": "boom"}]
        )
    progress = ("status.changed", "message.sent", "reaction.send", "notification")
    mid_tick: list[bool] = []

    def progressed() -> int:
        return len([e for e in events() if e["type"] in progress])

    for _ in range(3):
        seen = progressed()
        p = subprocess.Popen([sys.executable, "-m", "ao", "watch", "--interval", "0.5"], cwd=proj.repo.parent,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:  # kill as soon as the tick has done part of its work (its first new event)
            wait_for(lambda: progressed() > seen, timeout=10, what="a tick in progress")  # noqa: B023
            p.kill()
            mid_tick.append(True)
        except AssertionError:
            p.kill()  # nothing left to do (earlier passes finished it): kill between ticks
            mid_tick.append(False)
        p.wait()
    # the first pass has three sessions to move, so its first event is mid-tick
    assert mid_tick[0], "the watcher never started a tick"
    watch_once(proj)
    sessions = proj.ao_json("list")
    assert [s["status"] for s in sessions] == ["ci_failed"] * 3  # type: ignore[union-attr]
    assert all(e["v"] == 1 for e in events())  # every line parses
    sends = events("reaction.send")
    assert {e["session"] for e in sends} == {"d-1", "d-2", "d-3"}


def test_session_limit_queues_and_the_watcher_admits(proj: Project) -> None:
    proj.configure(maxSessions=1)
    assert proj.ao("new", "sleep 30").returncode == 0
    r = proj.ao("new", "echo second")
    assert r.returncode == 0 and r.stdout.startswith("queued d-2"), r.stdout
    assert [s["status"] for s in proj.ao_json("list")] == ["working", "queued"]  # type: ignore[union-attr]
    assert proj.ao("stop", "d-1").returncode == 0  # frees the slot
    report = watch_once(proj)
    assert ("d-2", "working") in [(t["session"], t["to"]) for t in report["transitions"]]  # type: ignore[union-attr]
    wait_for(lambda: "second\n" in proj.ao("logs", "d-2").stdout + "\n", what="admitted task ran")
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert session["id"] == "d-2" and session["branch"] == "ao/d-2"


def test_low_memory_queues_and_the_watcher_admits_one_per_pass(proj: Project) -> None:
    """Real /proc/meminfo: no machine has a petabyte free, every machine has a kilobyte."""
    proj.configure(top={"minFreeMemory": "1000TB"})
    for task in ("echo one", "echo two"):
        r = proj.ao("new", task)
        assert r.returncode == 0 and r.stdout.startswith("queued"), r.stdout
    (queued, _) = events("session.queued")
    assert "below minFreeMemory 1000000.0 GB" in queued["message"], queued
    assert watch_once(proj)["transitions"] == []  # still short of memory: nobody admitted
    proj.configure(top={"minFreeMemory": "1KB"})
    admitted = [[t["session"] for t in watch_once(proj)["transitions"] if t["to"] == "working"]
                for _ in range(2)]  # fmt: skip
    assert admitted == [["d-1"], ["d-2"]]  # one per pass: its memory shows before the next


def test_escalation_reaches_a_webhook_with_the_evidence(proj: Project, forge: Path) -> None:
    """The whole path: watcher → reaction exhausted → routed notifier → real HTTP receiver."""
    from tests.fake_notifyd import Receiver

    with Receiver() as hook:
        proj.use_receiver(
            scm="fake",
            repo="acme/demo",
            top={
                "reactions": {"ci-failed": {"retries": 1, "cooldown": "0s"}},
                "notifiers": {"ops": {"plugin": "webhook", "url": f"{hook.url}/ao"}},
                "notificationRouting": {"urgent": ["ops"], "action": ["ops"]},
            },
        )
        assert proj.ao("new", "go").returncode == 0
        wait_for(lambda: proj.received() == ["go"], what="task")
        set_pr(
            forge,
            "ao/d-1",
            checks=[{"name": "unit", "state": "failing", "log_excerpt": "E   assert 2 == 3"}],
        )
        # the escalation waits until the agent has finished its turn on the last attempt:
        # one pass later, or a few while it is still busy with the message
        kinds = [a["kind"] for _ in range(6) for a in watch_once(proj)["actions"]]  # type: ignore[union-attr]
        assert kinds == ["send", "escalate"], kinds
        (request,) = hook.requests
        body = request.json()
        assert body["v"] == 1 and body["session"] == "d-1" and body["priority"] == "action"
        assert "assert 2 == 3" in body["message"]


@pytest.mark.parametrize("restore_on_boot", [False, True])
def test_after_a_reboot_sessions_are_marked_or_restored(
    proj: Project, restore_on_boot: bool
) -> None:
    """A vanished tmux session (reboot) is `exited` and restorable, or restored by the watcher."""
    proj.configure(top={"restoreOnBoot": restore_on_boot})
    assert proj.ao("new", "echo before-reboot").returncode == 0
    (name,) = [n for n in proj.tmux_names() if n.endswith("-d-1")]
    proj.server.kill_session(name)  # what a reboot does to tmux
    report = watch_once(proj)
    if restore_on_boot:
        assert [(t["to"], t["rule"]) for t in report["transitions"]] == [
            ("working", "restored on boot")
        ]  # type: ignore[union-attr]
        assert any(n.endswith("-d-1") for n in proj.tmux_names())
        assert proj.ao_json("list")[0]["status"] in ("working", "ready")  # type: ignore[index]
    else:
        assert status(proj) == "exited"
        assert proj.ao("restore", "d-1").returncode == 0
        assert any(n.endswith("-d-1") for n in proj.tmux_names())


def test_status_watch_is_a_live_table_on_a_terminal(proj: Project) -> None:
    """Run `ao status --watch` in a real terminal (a tmux pane) and read what it draws."""
    assert proj.ao("new", "true").returncode == 0
    env = {k: os.environ[k] for k in ("AO_HOME", "HOME", "AO_TMUX_SOCKET", "PATH")}
    viewer = proj.server.new_session(
        session_name="viewer", attach=False, start_directory=str(proj.repo.parent),
        window_command=" ".join([sys.executable, "-m", "ao", "status", "--watch", "--interval", "0.3"]),
        environment=env, x=150, y=20,
    )  # fmt: skip
    pane = viewer.active_pane
    assert pane is not None

    def drawn() -> str:
        return "\n".join(pane.capture_pane())

    wait_for(lambda: "d-1" in drawn() and "SESSION" in drawn(), what="the live table")
    first = next(line for line in drawn().splitlines() if "ao sessions" in line)
    wait_for(
        lambda: first not in drawn(), timeout=5, what="a refresh (the clock in the title moves)"
    )


def test_all_complete_notifies_once_per_set_of_sessions(proj: Project) -> None:
    proj.configure(agent_command=["sh", "-c", "exit 0"])
    for _ in range(2):
        assert proj.ao("new", "").returncode == 0
    wait_for(lambda: all(s["activity"] == "exited" for s in proj.ao_json("list")), what="exits")  # type: ignore[union-attr]
    reactions = [a["reaction"] for a in watch_once(proj)["actions"]]  # type: ignore[union-attr]
    assert sorted(reactions) == ["agent-exited", "agent-exited", "all-complete"]
    assert watch_once(proj)["actions"] == []
    (note,) = [n for n in events("notification") if n["data"]["reaction"] == "all-complete"]  # type: ignore[index]
    assert "d-1 exited, d-2 exited" in note["data"]["body"]  # type: ignore[index]


def test_events_cli_filters_and_prints_the_v1_log(proj: Project) -> None:
    for _ in range(2):
        assert proj.ao("new", "true").returncode == 0
    r = proj.ao("events", "--session", "d-2", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["type"] for e in lines] == ["session.spawning", "session.started"]
    assert {e["session"] for e in lines} == {"d-2"}
    text = proj.ao("events", "-n", "1").stdout
    assert "session.started" in text and "d-2" in text and len(text.splitlines()) == 1
