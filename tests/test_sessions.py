"""Sessions end to end through the real `ao` CLI, real tmux (per-test server) and real git."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

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
        "created_at", "updated_at", "tmux", "task", "error", "role",
    }  # fmt: skip
    assert session["project"] == "demo" and session["role"] is None  # a worker
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
    # the pause lets tmux read the output before the pane dies: on a loaded machine a
    # process that exits within microseconds of printing can lose its output in tmux
    proj.configure(agent_command=["sh", "-c", "echo bye; sleep 0.3; exit 4"])
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
    owner = str(Path(os.environ["AO_HOME"]).resolve())  # ao tags what it starts
    proj.server.cmd("set-option", "-t", f"={hash_}-d-99:", "@ao_owner", owner)

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
    assert [e["type"] for e in events] == [
        "session.spawning",
        "session.started",
        "session.stopped",
        "session.killed",
    ]
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


def test_send_interrupt_stops_the_turn_and_delivers_now(proj: Project) -> None:
    """--interrupt: the agent's own interrupt key (the shell's Ctrl-C), then the message."""
    assert proj.ao("new", "sleep 600; echo slept-through").returncode == 0
    wait_for(lambda: proj.ao_json("status", "d-1")["activity"] == "working", what="busy")  # type: ignore[index]
    started = time.monotonic()
    r = proj.ao("send", "d-1", "echo after-interrupt", "--interrupt", "--json")
    assert r.returncode == 0, r.stderr
    sent = json.loads(r.stdout)["data"]
    assert sent["status"] == "delivered" and sent["detail"].startswith("interrupted the turn (C-c)")
    assert time.monotonic() - started < 15  # not after the 600 s turn
    wait_for(
        lambda: "after-interrupt\n" in proj.ao("logs", "d-1").stdout + "\n", what="the message ran"
    )
    assert "slept-through" not in proj.ao("logs", "d-1").stdout.replace("echo slept-through", "")
    log = next(Path(os.environ["AO_HOME"]).glob("*-demo/events.jsonl")).read_text()
    (event,) = [e for e in map(json.loads, log.splitlines()) if e["type"] == "message.interrupt"]
    assert event["data"] == {"keys": ["C-c"]}
    # an idle agent is not interrupted: plain delivery
    r = proj.ao("send", "d-1", "echo plain", "--interrupt", "--json")
    assert json.loads(r.stdout)["data"]["detail"].startswith("interrupted") is False


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


def test_missing_workdir_fails_the_spawn_and_names_the_key(proj: Project) -> None:
    """A workdir missing from the worktree is a spawn error, not an agent running elsewhere."""
    proj.configure(workdir="packages/nope")
    r = proj.ao("new", "pwd")
    assert r.returncode == 9, (r.stdout, r.stderr)
    assert "packages/nope" in r.stderr and "projects.demo.workdir" in r.stderr
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert session["status"] == "errored" and "packages/nope" in session["error"]
    assert not any(n.endswith("-d-1") for n in proj.tmux_names())
    assert "ao/d-1" not in git(proj.repo, "branch", "--list")


def test_tmux_runtime_refuses_a_missing_cwd(proj: Project, tmp_path: Path) -> None:
    """The runtime's own check: tmux would otherwise start the pane in its server's cwd."""
    from ao_plugins.runtime_tmux import TmuxRuntime

    from ao.sdk.contracts import RuntimeSpec
    from ao.sdk.errors import SpawnError

    spec = RuntimeSpec(name="ao-cwd-test", argv=["sleep", "30"], cwd=tmp_path / "nope")
    with pytest.raises(SpawnError, match="nope"):
        TmuxRuntime().create(spec)
    assert "ao-cwd-test" not in proj.tmux_names()


def test_send_cannot_break_out_of_the_bracketed_paste(proj: Project) -> None:
    """A paste-end sequence and CR in a message cannot submit part of it as typed input."""
    proj.use_receiver()
    assert proj.ao("new", "first").returncode == 0
    wait_for(lambda: proj.received() == ["first"], what="first prompt")
    r = proj.ao("send", "d-1", "-", input="part1\x1b[201~\rINJECTED\t日本")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(proj.received()) >= 2, what="the message")
    assert proj.received() == ["first", "part1\nINJECTED\t日本"]


def test_tmux_paste_strips_escape_sequences(proj: Project, tmp_path: Path) -> None:
    """Defence in depth: the runtime's paste drops ESC sequences whoever calls it."""
    from ao_plugins.runtime_tmux import TmuxRuntime

    from ao.sdk.contracts import RuntimeSpec
    from tests.sessionkit import RECEIVER

    runtime = TmuxRuntime()
    handle = runtime.create(
        RuntimeSpec(name="ao-paste-test", argv=[sys.executable, str(RECEIVER), str(proj.inbox)],
                    cwd=tmp_path)
    )  # fmt: skip
    wait_for(lambda: "READY>" in runtime.capture(handle), what="receiver prompt")
    runtime.paste(handle, "a\x1b[201~\rb ü")
    runtime.send_keys(handle, "Enter")
    wait_for(proj.received, what="the paste")
    assert proj.received() == ["a\nb ü"]


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_send_refuses_input_that_is_not_utf8(proj: Project, tmp_path: Path, source: str) -> None:
    """Bytes that are not UTF-8 are a usage error naming the first bad byte; nothing is sent."""
    proj.use_receiver()
    assert proj.ao("new", "first").returncode == 0
    wait_for(lambda: proj.received() == ["first"], what="first prompt")
    payload = b"hello \xfe\xff"
    msg = tmp_path / "msg.bin"
    msg.write_bytes(payload)
    args = ["--file", str(msg)] if source == "file" else ["-"]
    r = subprocess.run(
        [sys.executable, "-m", "ao", "send", "d-1", *args], cwd=proj.repo.parent,
        input=payload, capture_output=True, timeout=60,
    )  # fmt: skip
    stderr = r.stderr.decode()
    assert r.returncode == 2, stderr
    name = str(msg) if source == "file" else "stdin"
    assert f"{name} is not UTF-8 text: byte 0xfe at offset 6" in stderr
    assert "Traceback" not in stderr and r.stdout == b""
    assert proj.received() == ["first"]


def test_post_create_commands_keep_their_own_timeouts(proj: Project) -> None:
    """A short per-command timeout is not stretched to the longest one in the list."""
    proj.configure(
        postCreate=[{"run": ["sleep", "30"], "timeout": 1}, {"run": ["true"], "timeout": 300}]
    )
    r = proj.ao("new", "true", timeout=25)
    assert r.returncode == 9, (r.stdout, r.stderr)
    assert "timed out after 1s" in r.stderr


def test_status_of_one_session_renders_evidence_as_text(proj: Project) -> None:
    assert proj.ao("new", "true").returncode == 0
    r = proj.ao("status", "d-1")
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("evidence")]
    assert re.fullmatch(r"evidence\s+(runtime|screen): \S.*", line), line
    assert "{" not in line


def _two_projects(proj: Project) -> None:
    """Projects pa and pb of one config on the same repository (so the same tmux hash)."""
    config = {
        "defaults": {"agent": "shell"},
        "projects": {
            "pa": {"path": str(proj.repo), "sessionPrefix": "a"},
            "pb": {"path": str(proj.repo), "sessionPrefix": "b"},
        },
    }
    (proj.repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))


def test_custom_session_names_are_unique_across_projects(proj: Project) -> None:
    _two_projects(proj)
    r = proj.ao("new", "true", "--project", "pa", "--name", "fix")
    assert r.returncode == 0, r.stderr
    for name, why in (
        ("fix", "already exists in project 'pa'"),
        ("a-7", "id range of project 'pa' (a-N)"),
    ):
        r = proj.ao("new", "true", "--project", "pb", "--name", name)
        assert r.returncode == 5, (r.stdout, r.stderr)
        assert why in r.stderr and len(r.stderr.splitlines()) == 1
    r = proj.ao("new", "true", "--project", "pb", "--name", "watch")
    assert r.returncode == 5 and "watcher" in r.stderr
    assert proj.ao_json("list", "--project", "pb") == []
    assert [s["id"] for s in proj.ao_json("list", "--project", "pa")] == ["fix"]  # type: ignore[union-attr]


def test_a_session_id_in_several_projects_needs_project(proj: Project) -> None:
    """State from before ids were unique: commands ask for --project instead of guessing."""
    _two_projects(proj)
    assert proj.ao("new", "true", "--project", "pa", "--name", "fix").returncode == 0
    home = Path(os.environ["AO_HOME"])
    record = next(home.glob("*-pa/sessions/fix"))
    copy = record.parent.parent.with_name(record.parent.parent.name[:-2] + "pb") / "sessions"
    copy.mkdir(parents=True)
    (copy / "fix").write_text(record.read_text().replace("project=pa", "project=pb"))
    for args in (
        ("stop", "fix"),
        ("send", "fix", "hi"),
        ("status", "fix"),
        ("restore", "fix"),
        ("logs", "fix"),
    ):
        r = proj.ao(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "several projects (pa, pb)" in r.stderr and "--project" in r.stderr
    assert record.exists() and (copy / "fix").exists()
    (copy / "fix").unlink()
    assert proj.ao("stop", "fix", "--project", "pa").returncode == 0


@pytest.mark.tmux
def test_a_session_can_start_from_another_sessions_branch(proj: Project) -> None:
    """`ao new --from SESSION` (the API's `parent=`): a worktree from a parent workspace,
    with its commits, pushed or not; `--base BRANCH` names any branch; bad ones are clear."""
    parent = proj.ao_json("new", "lay the groundwork")
    assert isinstance(parent, dict)
    parent_tree = Path(parent["worktree"])
    (parent_tree / "groundwork.txt").write_text("from the parent\n")
    git(parent_tree, "add", "groundwork.txt")
    git(parent_tree, "commit", "-q", "-m", "groundwork")
    git(parent_tree, "push", "-q", "origin", parent["branch"])  # pushed, then one more commit
    (parent_tree / "more.txt").write_text("not pushed yet\n")
    git(parent_tree, "add", "more.txt")
    git(parent_tree, "commit", "-q", "-m", "more")
    (parent_tree / "draft.txt").write_text("uncommitted: stays with the parent\n")

    child = proj.ao_json("new", "build on it", "--from", parent["id"])
    assert isinstance(child, dict)
    child_tree = Path(child["worktree"])
    assert (child_tree / "groundwork.txt").read_text() == "from the parent\n"
    assert (child_tree / "more.txt").exists()  # the local branch is ahead of origin's: it wins
    assert not (child_tree / "draft.txt").exists()
    assert child["branch"] == f"ao/{child['id']}"
    status = proj.ao_json("status", child["id"])
    assert isinstance(status, dict) and status["branch"] == child["branch"]
    log = git(child_tree, "log", "--format=%s", "-2").split()
    assert log[:2] == ["more", "groundwork"]

    other = proj.ao_json("new", "start from main", "--base", "main")
    assert isinstance(other, dict)
    assert not (Path(other["worktree"]) / "groundwork.txt").exists()

    r = proj.ao("new", "nowhere", "--base", "no-such-branch")
    assert r.returncode != 0 and "base branch 'no-such-branch' not found" in r.stderr
    r = proj.ao("new", "nowhere", "--from", "zz-9")
    assert r.returncode == 4 and "no live session 'zz-9'" in r.stderr
    r = proj.ao("new", "both", "--from", parent["id"], "--base", "main")
    assert r.returncode == 2 and "not both" in r.stderr
