"""Sessions end to end through the real `ao` CLI, real tmux (per-test server) and real git."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import git
from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux


def test_three_parallel_spawns_do_not_collide(proj: Project) -> None:
    """Three concurrent `ao new` get distinct ids, branches, worktrees and tmux sessions."""
    procs = [proj.popen("new", f"echo task-{i}") for i in range(3)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    sessions = proj.ao_json("list")
    assert isinstance(sessions, list)
    assert sorted(s["id"] for s in sessions) == ["d-1", "d-2", "d-3"]
    assert len({s["branch"] for s in sessions}) == 3
    assert len({s["worktree"] for s in sessions}) == 3
    for s in sessions:
        assert s["status"] in ("working", "ready"), s
        assert s["agent"] == "shell" and s["runtime"] == "tmux"
        assert Path(s["worktree"]).is_dir()
        assert git(Path(s["worktree"]), "branch", "--show-current").strip() == s["branch"]
    names = proj.tmux_names()
    assert len([n for n in names if n.endswith(("-d-1", "-d-2", "-d-3"))]) == 3

    # each task ran in its own session's shell: together they printed all three
    def outputs_seen() -> bool:
        logs = "".join(proj.ao("logs", s["id"]).stdout for s in sessions)
        return all(logs.count(f"task-{i}") >= 2 for i in range(3))  # typed line + its output

    wait_for(outputs_seen, what="task output in every session")


def test_json_session_object_contract(proj: Project) -> None:
    """The v1 session object carries at least the documented keys."""
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    # the v1 contract (docs/cli.md): adding keys is allowed, removing or renaming is not
    assert set(session) == {
        "id", "project", "agent", "runtime", "branch", "worktree", "status", "activity",
        "created_at", "updated_at", "tmux", "task", "error",
    }  # fmt: skip
    assert session["project"] == "demo"
    detail = proj.ao_json("status", session["id"])
    assert isinstance(detail, dict)
    assert detail["evidence"]["source"] in ("runtime", "screen")


def test_send_10kb_message_arrives_byte_exact(proj: Project) -> None:
    """A 10 KB multi-line message with quotes, tabs, unicode and shell syntax arrives exactly."""
    proj.use_receiver()
    r = proj.ao("new", "first task")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: proj.received() == ["first task"], what="first prompt")
    line = "quote \" ' `x` $(touch pwned) \t tab; é ü 日本 🚀 \\ back\n"
    message = line * 180
    assert len(message.encode()) >= 10_000
    r = proj.ao("send", "d-1", "-", input=message)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("delivered"), r.stdout
    assert proj.received()[-1] == message
    assert not (proj.repo / "pwned").exists()
    assert not list(proj.repo.parent.rglob("pwned"))


def test_send_from_file_and_json(proj: Project, tmp_path: Path) -> None:
    proj.use_receiver()
    assert proj.ao("new", "go").returncode == 0
    msg = tmp_path / "msg.txt"
    msg.write_text("line one\nline two\n")
    data = proj.ao_json("send", "d-1", "--file", str(msg))
    assert data == {"session": "d-1", "status": "delivered", "detail": data["detail"]}  # type: ignore[index]
    assert proj.received()[-1] == "line one\nline two\n"


def test_task_with_escape_sequences_is_typed_as_literal(proj: Project) -> None:
    """Escape sequences are stripped from the task; shell syntax stays literal text."""
    proj.use_receiver()
    task = "fix it \x1b[31mred\x1b[0m\x1b]0;title\x07 $(touch pwned) `id` && rm -rf x"
    r = proj.ao("new", task)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: proj.received(), what="task")
    assert proj.received()[0] == "fix it red $(touch pwned) `id` && rm -rf x"
    assert not list(proj.repo.parent.rglob("pwned"))


def test_logs_show_the_agent_screen(proj: Project) -> None:
    assert proj.ao("new", "echo hello-from-ao").returncode == 0
    wait_for(
        lambda: "hello-from-ao" in proj.ao("logs", "d-1", "-n", "20").stdout.split("echo")[-1],
        what="command output in logs",
    )


def test_attach_command_targets_exact_session(proj: Project) -> None:
    assert proj.ao("new", "true").returncode == 0
    outside = proj.ao("attach", "d-1", "--print").stdout.split()
    assert outside[:3] == ["tmux", "-L", proj.server.socket_name]
    assert outside[3] == "attach-session"
    assert outside[-2] == "-t" and outside[-1].startswith("=") and outside[-1].endswith("-d-1")
    inside = proj.ao("attach", "d-1", "--print", env={"TMUX": "/tmp/x,1,0"}).stdout.split()
    assert inside[3] == "switch-client"


def test_stop_keeps_dirty_worktree_then_force_snapshots_it(proj: Project) -> None:
    """No work is lost: stop keeps a dirty worktree; --force saves it as a WIP commit first."""
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    wt = Path(session["worktree"])
    (wt / "work.txt").write_text("precious\n")

    r = proj.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert "kept its worktree (1 uncommitted change)" in r.stdout
    assert (wt / "work.txt").read_text() == "precious\n"
    assert not any(n.endswith("-d-1") for n in proj.tmux_names())
    assert proj.ao_json("list") == []
    archived = proj.ao_json("list", "--all")
    assert [s["status"] for s in archived] == ["killed"]  # type: ignore[union-attr]

    r = proj.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    (restored,) = proj.ao_json("list")  # type: ignore[misc]
    assert restored["worktree"] == str(wt) and restored["branch"] == session["branch"]
    assert any(n.endswith("-d-1") for n in proj.tmux_names())

    r = proj.ao("stop", "d-1", "--force")
    assert r.returncode == 0, r.stderr
    assert not wt.exists()
    assert git(proj.repo, "show", f"{session['branch']}:work.txt") == "precious\n"


def test_stop_clean_session_removes_worktree_and_branch(proj: Project) -> None:
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert proj.ao("stop", "d-1").returncode == 0
    assert not Path(session["worktree"]).exists()
    assert session["branch"] not in git(proj.repo, "branch", "--list")


def test_stop_all_in_project(proj: Project) -> None:
    for _ in range(2):
        assert proj.ao("new", "true").returncode == 0
    r = proj.ao("stop", "--project", "demo", "--all", "--json")
    assert r.returncode == 0, r.stderr
    assert [s["id"] for s in json.loads(r.stdout)["data"]] == ["d-1", "d-2"]
    assert proj.ao_json("list") == []


def test_restore_after_agent_exit(proj: Project) -> None:
    proj.configure(agent_command=["sh", "-c", "echo bye; exit 4"])
    assert proj.ao("new", "").returncode == 0
    wait_for(lambda: proj.ao_json("list")[0]["status"] == "exited", what="exit")  # type: ignore[index]
    assert "bye" in proj.ao("logs", "d-1").stdout
    proj.configure()
    r = proj.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    assert proj.ao_json("list")[0]["status"] in ("working", "ready")  # type: ignore[index]


def test_failed_post_create_rolls_back_and_records_error(proj: Project) -> None:
    proj.configure(postCreate=[["sh", "-c", "echo setup failed >&2; exit 3"]])
    r = proj.ao("new", "true")
    assert r.returncode == 9, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "d-1" in r.stderr
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert session["status"] == "errored" and session["error"]
    assert not (Path(session["worktree"] or "/nonexistent")).exists()
    assert "ao/d-1" not in git(proj.repo, "branch", "--list")
    assert not any(n.endswith("-d-1") for n in proj.tmux_names())


def test_gc_repairs_a_spawn_killed_halfway(proj: Project) -> None:
    """`ao new` killed during post-create leaves a half spawn; `ao gc` undoes it."""
    proj.configure(postCreate=[["sleep", "30"]])
    p = proj.popen("new", "true")

    def worktree_exists() -> bool:
        return any(Path(os.environ["AO_HOME"]).glob("*-demo/worktrees/d-1"))

    def post_create_running() -> bool:  # the worktree is complete; `sleep 30` runs
        return any(Path(os.environ["AO_HOME"]).glob("*-demo/logs/d-1.post-create.log"))

    wait_for(post_create_running, what="post-create to start")
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    # a stray tmux session in ao's namespace with no record is also cleaned
    hash_ = next(Path(os.environ["AO_HOME"]).glob("*-demo")).name.split("-")[0]
    proj.server.new_session(session_name=f"{hash_}-d-99", attach=False)

    dry = proj.ao_json("gc", "--dry-run")
    kinds = sorted(a["kind"] for a in dry)  # type: ignore[union-attr]
    assert "half-spawn" in kinds and "orphan-tmux" in kinds
    assert worktree_exists()

    done = proj.ao_json("gc")
    assert all(a["done"] for a in done if a["kind"] != "kept-worktree")  # type: ignore[union-attr]
    assert not worktree_exists()
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert session["status"] == "errored" and "interrupted" in session["error"]
    assert f"{hash_}-d-99" not in proj.tmux_names()
    assert proj.ao_json("gc") == []


@pytest.mark.parametrize(
    "args",
    [
        ("send", "x;rm -rf /", "hi"),
        ("send", "$(touch pwned)", "hi"),
        ("logs", "../../etc/passwd"),
        ("stop", "A B"),
        ("new", "task", "--branch", "$(touch pwned)"),
        ("new", "task", "--branch", "-x"),
        ("new", "task", "--branch", "a..b"),
        ("new", "task", "--name", "bad name"),
    ],
)
def test_bad_names_are_clear_errors(proj: Project, args: tuple[str, ...]) -> None:
    r = proj.ao(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("ao: error:")
    assert proj.ao_json("list") == []
    assert not list(proj.repo.parent.rglob("pwned"))


def test_unknown_session_is_not_found(proj: Project) -> None:
    assert proj.ao("new", "true").returncode == 0
    r = proj.ao("send", "d-2", "hello")
    assert r.returncode == 4 and "d-1" in r.stderr  # did-you-mean


def test_exact_targets_never_prefix_match(proj: Project) -> None:
    """Sending to d-1 after it stopped must not reach d-10 (tmux prefix matching)."""
    proj.use_receiver()
    assert proj.ao("new", "one", "--name", "d-10").returncode == 0
    r = proj.ao("send", "d-1", "hello")
    assert r.returncode == 4
    wait_for(lambda: proj.received(), what="first prompt")
    assert proj.received() == ["one"]


def test_events_log_records_the_lifecycle(proj: Project) -> None:
    """events.jsonl is the v1 contract: every line has the documented keys."""
    assert proj.ao("new", "true").returncode == 0
    assert proj.ao("stop", "d-1").returncode == 0
    log = next(Path(os.environ["AO_HOME"]).glob("*-demo")) / "events.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["type"] for e in events] == ["session.spawning", "session.started", "session.stopped"]
    for e in events:
        assert set(e) == {
            "v",
            "id",
            "ts",
            "type",
            "priority",
            "session",
            "project",
            "message",
            "data",
        }
        assert e["v"] == 1 and e["session"] == "d-1" and e["project"] == "demo"


def test_send_to_a_busy_agent_is_queued_then_delivered_in_order(proj: Project) -> None:
    """A busy agent gets messages queued; the next send delivers the queue first."""
    assert proj.ao("new", "sleep 3").returncode == 0
    r = proj.ao("send", "d-1", "echo first-queued", "--wait", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["status"] == "queued"
    outbox = next(Path(os.environ["AO_HOME"]).glob("*-demo/outbox/d-1"))
    assert len(list(outbox.glob("*.msg"))) == 1

    r = proj.ao("send", "d-1", "echo second-direct", "--wait", "10")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("delivered")
    assert list(outbox.glob("*.msg")) == []
    wait_for(
        lambda: "second-direct\n" in proj.ao("logs", "d-1").stdout + "\n", what="second output"
    )
    screen = proj.ao("logs", "d-1").stdout
    assert screen.index("echo first-queued") < screen.index("echo second-direct")


def test_logs_follow_streams_until_the_agent_exits(proj: Project) -> None:
    proj.configure(agent_command=["sh", "-c", "for i in 1 2 3; do echo tick-$i; sleep 0.4; done"])
    assert proj.ao("new", "").returncode == 0
    r = proj.ao("logs", "d-1", "--follow", timeout=20)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("tick-")]
    assert lines == ["tick-1", "tick-2", "tick-3"]


def test_send_to_an_exited_agent_says_restore(proj: Project) -> None:
    proj.configure(agent_command=["true"])
    assert proj.ao("new", "").returncode == 0
    wait_for(lambda: proj.ao_json("list")[0]["status"] == "exited", what="exit")  # type: ignore[index]
    r = proj.ao("send", "d-1", "hello")
    assert r.returncode == 5 and "ao restore" in r.stderr


def test_gc_removes_stale_locks_only(proj: Project) -> None:
    assert proj.ao("new", "true").returncode == 0
    locks = next(Path(os.environ["AO_HOME"]).glob("*-demo/locks"))
    (locks / "session-d-77.lock").touch()
    actions = proj.ao_json("gc")
    assert [(a["kind"], Path(a["target"]).name) for a in actions] == [  # type: ignore[union-attr]
        ("stale-lock", "session-d-77.lock")
    ]
    assert not (locks / "session-d-77.lock").exists()
    assert proj.ao_json("list")[0]["id"] == "d-1"  # type: ignore[index]
