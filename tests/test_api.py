"""The application API (``ao.api.Orchestrator``) end to end, in process: real tmux (the
test's private server), real git (a repo with a bare origin), a private AO_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from ao_plugins.runtime_tmux import TmuxRuntime

from ao.api import Orchestrator, PassReport
from ao.sdk.errors import ConfigError, ConflictError, NotFoundError, UsageError
from tests.conftest import git
from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux


def api_of(proj: Project) -> Orchestrator:
    return Orchestrator.from_config(cwd=proj.repo.parent)


def test_create_list_status_send_logs_stop_restore(proj: Project) -> None:
    proj.use_receiver()
    api = api_of(proj)
    s = api.create("first task", project="demo")
    assert (s.id, s.project, s.branch) == ("d-1", "demo", "ao/d-1")
    assert s.worktree is not None and s.worktree.is_dir()
    assert s.session.status in ("working", "ready") and s.delivery in ("delivered", "unconfirmed")
    wait_for(lambda: proj.received() == ["first task"], what="first prompt")

    (row,) = api.sessions()
    assert row.id == "d-1" and row.agent == "shell" and row.worktree == str(s.worktree)
    # the same v1 document as `ao list --json`
    (listed,) = proj.ao_json("list")  # type: ignore[misc]
    assert set(row.to_json()) == set(listed)
    assert {k: v for k, v in row.to_json().items() if k not in ("activity", "status")} == {
        k: v for k, v in listed.items() if k not in ("activity", "status")
    }

    detail = api.status("d-1")
    assert detail.id == "d-1" and detail.activity in ("ready", "working")
    assert detail.evidence.source in ("runtime", "screen")
    assert set(detail.to_json()) == set(proj.ao_json("status", "d-1"))  # type: ignore[arg-type]

    sent = api.send("d-1", "also add a test")
    assert (sent.session, sent.status) == ("d-1", "delivered")
    assert proj.received()[-1] == "also add a test"
    wait_for(lambda: "got 15 chars" in api.logs("d-1", lines=20), what="the agent's answer")

    stopped = api.stop("d-1")
    assert stopped.id == "d-1" and stopped.worktree_removed and stopped.kept_reason is None
    assert api.sessions() == []
    (archived,) = api.sessions(archived=True)
    assert archived.archived and archived.status == "killed" and archived.activity == "exited"
    assert "got 15 chars" in api.logs("d-1")  # the saved last screen

    restored = api.restore("d-1")
    assert restored.id == "d-1" and restored.status in ("working", "ready", "spawning")
    assert [r.id for r in api.sessions()] == ["d-1"]
    assert all(item.done is False for item in api.gc(dry_run=True))


def test_send_keys_and_interrupt(proj: Project) -> None:
    proj.use_receiver()
    api = api_of(proj)
    api.create("first", project="demo")
    wait_for(lambda: proj.received() == ["first"], what="first prompt")
    done = api.send_keys("d-1", ["x", "Enter"])
    assert done.keys == ("x", "Enter")
    wait_for(lambda: proj.received()[-1:] == ["x"], what="typed keys")
    with pytest.raises(UsageError, match="not a key name"):
        api.send_keys("d-1", ["a b"])
    # the receiver is not working: nothing to interrupt
    assert api.interrupt("d-1").interrupted is False
    types = [e.type for e in api.events(session="d-1").events]
    assert "message.keys" in types


def test_events_since_a_cursor(proj: Project) -> None:
    api = api_of(proj)
    api.create("true", project="demo")
    page = api.events()
    assert [e.type for e in page.events] == ["session.spawning", "session.started"]
    assert api.events(page.cursor).events == ()
    api.stop("d-1")
    newer = api.events(page.cursor)
    assert [e.type for e in newer.events] == ["session.stopped", "session.killed"]
    assert newer.events[0].session == "d-1" and newer.events[0].project == "demo"
    assert api.events(newer.cursor).events == ()
    assert [e.type for e in api.events(limit=1).events] == ["session.killed"]
    # the same lines as the log has them
    log = next(Path(os.environ["AO_HOME"]).glob("*-demo")) / "events.jsonl"
    assert [e.to_json() for e in api.events().events] == [
        json.loads(line) for line in log.read_text().splitlines()
    ]
    with pytest.raises(UsageError, match="cursor"):
        api.events("not a cursor")
    with pytest.raises(NotFoundError, match="no events of it"):
        api.events(session="d-9")


def test_one_pass_and_the_watch_loop(proj: Project) -> None:
    proj.configure(agent_command=["sh", "-c", "exit 3"])
    api = api_of(proj)
    api.create("", project="demo")
    # the agent exits at once, but on a busy machine maybe only after `create` returned
    wait_for(lambda: not any(p.running for p in TmuxRuntime().probe().values()), what="exit")
    outcome = api.run_pass()
    assert (outcome.status, outcome.ran_by) == ("ran", "self")
    assert outcome.report is not None and outcome.report.sessions == 1
    assert [(t.session, t.after) for t in outcome.report.transitions] == [("d-1", "exited")]
    (moved,) = outcome.to_json()["transitions"]
    assert set(moved) == {"session", "from", "to", "rule"} and moved["to"] == "exited"

    cancel = threading.Event()
    seen: list[PassReport] = []
    started: list[bool] = []

    def on_pass(report: PassReport) -> None:
        seen.append(report)
        cancel.set()

    api.watch(on_pass, interval=0.5, cancel=cancel, on_start=lambda: started.append(True))
    assert started == [True] and len(seen) == 1 and seen[0].sessions == 1
    assert not seen[0].changed  # the first pass already moved it


def test_simulate_changes_nothing(proj: Project) -> None:
    api = api_of(proj)
    api.create("true", project="demo")
    before = api.events().events
    report = api.simulate("d-1")
    assert report.sessions >= 0 and api.events().events == before


def test_agents_inventory_and_choice(proj: Project) -> None:
    api = api_of(proj)
    agents = {a.name: a for a in api.agents()}
    assert agents["shell"].installed and agents["shell"].binary
    assert api.choose_agent(project="demo") == "shell"
    assert {p.slot for p in api.plugins()} >= {"agent", "runtime", "workspace"}


def test_agents_work_without_a_config(tmp_path: Path) -> None:
    api = Orchestrator(cwd=tmp_path)
    assert "shell" in {a.name for a in api.agents()}
    with pytest.raises(ConfigError):
        Orchestrator.from_config(cwd=tmp_path)


def test_projects_start_add_remove(git_repo: Path, tmp_path: Path) -> None:
    api = Orchestrator(cwd=git_repo)
    started = api.start_project(watch=False)
    assert started.created_config and started.project == "repo"
    assert (started.watcher, started.watcher_detail) == ("skipped", "--no-watch")
    assert [p.id for p in api.projects()] == ["repo"]

    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", "-b", "main", str(other)], check=True)
    (other / "f").write_text("x\n")
    git(other, "add", "f")
    git(other, "commit", "-q", "-m", "one")
    added = api.add_project(str(other))
    assert added.added_project and added.config == started.config
    assert [p.id for p in api.projects()] == ["repo", "other"]
    assert api.add_project(str(other)).added_project is False

    removed = api.remove_project("other")
    assert removed.live_sessions == 0 and removed.state.name.endswith("-other")
    assert [p.id for p in api.projects()] == ["repo"]
    with pytest.raises(NotFoundError):
        api.remove_project("other")


def test_finalize_commits_and_pushes_to_origin(proj: Project) -> None:
    api = api_of(proj)
    s = api.create("true", project="demo")
    assert s.worktree is not None
    (s.worktree / "new.txt").write_text("work\n")
    published = api.finalize(s.id, title="Add new.txt")
    assert (published.committed, published.commits, published.pr) == (True, 1, None)
    origin = proj.repo.parent / "origin.git"
    assert git(origin, "log", "-1", "--format=%s", "ao/d-1").strip() == "Add new.txt"
    api.create("true", project="demo")
    with pytest.raises(UsageError, match="nothing to publish"):
        api.finalize("d-2")
    with pytest.raises(UsageError, match="unknown strategy"):
        api.merge(s.id, strategy="octopus")


def test_lookup_errors(proj: Project) -> None:
    api = api_of(proj)
    api.create("true", project="demo")
    with pytest.raises(NotFoundError, match="no session 'd-2'") as info:
        api.status("d-2")
    assert info.value.hint == "did you mean 'd-1'?" and info.value.exit_code == 4
    with pytest.raises(UsageError, match="invalid session name"):
        api.send("../x", "hi")
    with pytest.raises(NotFoundError, match="live or archived"):
        api.restore("d-7")
    with pytest.raises(UsageError, match="give a task or an issue"):
        api.create(project="demo")
    with pytest.raises(UsageError, match="empty"):
        api.send("d-1", "  \n")


def test_an_id_in_two_projects_asks_for_the_project(proj: Project) -> None:
    config = {
        "defaults": {"agent": "shell"},
        "projects": {
            "pa": {"path": str(proj.repo), "sessionPrefix": "a"},
            "pb": {"path": str(proj.repo), "sessionPrefix": "b"},
        },
    }
    (proj.repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))
    api = api_of(proj)
    api.create("true", project="pa", name="fix")
    record = next(Path(os.environ["AO_HOME"]).glob("*-pa/sessions/fix"))
    copy = record.parent.parent.with_name(record.parent.parent.name[:-2] + "pb") / "sessions"
    copy.mkdir(parents=True)
    (copy / "fix").write_text(record.read_text().replace("project=pa", "project=pb"))
    for call in (
        lambda: api.status("fix"),
        lambda: api.send("fix", "hi"),
        lambda: api.logs("fix"),
        lambda: api.stop("fix"),
        lambda: api.restore("fix"),
    ):
        with pytest.raises(UsageError, match=r"several projects \(pa, pb\)") as info:
            call()
        assert info.value.hint is not None and "--project" in info.value.hint
    (copy / "fix").unlink()
    assert api.stop("fix", project="pa").id == "fix"


def test_a_queued_session_has_no_worktree_yet(proj: Project) -> None:
    proj.configure(maxSessions=1)
    api = api_of(proj)
    api.create("true", project="demo")
    queued = api.create("true", project="demo")
    assert queued.delivery == "queued" and queued.worktree is None
    assert queued.to_json()["delivery"] == "queued" and queued.to_json()["status"] == "queued"
    with pytest.raises(ConflictError):
        api.send(queued.id, "hi")


def test_requests_mirror_the_methods() -> None:
    """Each request's fields are its method's keyword arguments, with the same defaults."""
    import dataclasses
    import inspect

    from ao.api.requests import REQUESTS

    for name, cls in REQUESTS.items():
        params = dict(inspect.signature(getattr(Orchestrator, name)).parameters)
        params.pop("self")
        params.pop("cancel", None)  # an in-process Event, never data
        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        assert list(fields) == list(params), name
        for key, default in fields.items():
            expected = params[key].default
            if expected is inspect.Parameter.empty:
                assert default is dataclasses.MISSING, (name, key)
            else:
                assert default == expected, (name, key)


def test_requests_refuse_what_they_do_not_know(proj: Project) -> None:
    from ao.api.requests import Send, parse

    assert parse("send", {"session_id": "d-1", "text": "hi"}) == Send("d-1", "hi")
    for doc, why in (
        ({"session_id": "d-1", "text": "hi", "txet": "x"}, "unknown key 'txet'"),
        ({"session_id": "d-1"}, "'text' is required"),
        ({"session_id": "d-1", "text": "hi", "wait": "10"}, "'wait' must be float"),
        ({"session_id": "d-1", "text": "hi", "interrupt": 1}, "'interrupt' must be bool"),
    ):
        with pytest.raises(UsageError, match=why):
            parse("send", doc)
    with pytest.raises(UsageError, match="unknown API method"):
        parse("rm_rf", {})
    api = api_of(proj)
    created = api.call(parse("create", {"task": "true", "project": "demo"}))
    assert created.id == "d-1"
    rows = api.call(parse("sessions", {}))
    assert [r.to_json()["id"] for r in rows] == ["d-1"]
    keys = api.call(parse("send_keys", {"session_id": "d-1", "keys": ["Enter"]}))
    assert keys.keys == ("Enter",)


def test_importing_the_api_loads_only_what_listing_needs() -> None:
    """`ao list` goes through the API: importing it loads no pydantic, yaml, spawn, gc,
    lifecycle, or the results of other operations."""
    import sys

    heavy = ("pydantic", "yaml", "ao.session.spawn", "ao.session.gc", "ao.lifecycle.watch",
             "ao.api.outcomes", "ao.api.reports", "ao.api.inventory", "ao.api.requests")  # fmt: skip
    probe = (
        "import sys\nfrom ao.api import Orchestrator\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
