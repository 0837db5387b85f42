"""Fault injection: `ao` killed with SIGKILL at every named step of spawn, stop and restore
(``AO_FAULT=<step>``, see ``ao.store.faults``), and commands raced against each other. After each
trial ``ao gc`` runs and the invariants hold: no orphan tmux session, worktree, branch,
lock or temp file; every record parses and is in a state that has an exit; no work lost.
Real tmux, real git.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
from pathlib import Path

import pytest

from ao.store import kvfile
from tests.sessionkit import Project

pytestmark = pytest.mark.tmux

SPAWN_STEPS = [
    "spawn.reserved",
    "spawn.workspace-creating",
    "spawn.workspace-created",
    "spawn.workspace",
    "spawn.runtime-created",
    "spawn.runtime",
    "spawn.done",
]
STOP_STEPS = ["stop.screen-saved", "stop.runtime-destroyed", "stop.workspace-done", "stop.archived"]
RESTORE_STEPS = ["restore.record", "restore.workspace", "restore.runtime"]
WRITE_STEPS = ["write.before-rename"]
# statuses a record may rest in once nothing runs: each has a way out (stop, restore, gc)
RESTING = {"working", "ready", "needs_input", "stuck", "blocked", "queued", "errored", "exited"}
ENDED = {"errored", "exited", "killed", "done", "merged"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=20
    ).stdout


def _namespace() -> Path:
    return next(Path(os.environ["AO_HOME"]).glob("*-demo"))


def _crash(proj: Project, step: str, *args: str) -> None:
    """Run `ao ARGS` until it dies at ``step``, as kill -9 would kill it there."""
    r = proj.ao(*args, env={"AO_FAULT": step})
    assert r.returncode == -signal.SIGKILL, (step, r.returncode, r.stderr)


def _records(directory: Path) -> dict[str, dict[str, str]]:
    if not directory.is_dir():
        return {}
    return {
        p.name: kvfile.loads(p.read_text(encoding="utf-8"))
        for p in directory.iterdir()
        if not p.name.startswith(".")
    }


def _has_work(worktree: Path) -> bool:
    status = _git(worktree, "status", "--porcelain", "--ignored")
    unpushed = _git(worktree, "rev-list", "--count", "HEAD", "--not", "--remotes", "main")
    return bool(status.strip()) or int(unpushed) > 0


def check_invariants(proj: Project) -> None:
    """What must hold after `ao gc`, whatever step the last command died at."""
    ns = _namespace()
    live = _records(ns / "sessions")
    archived = _records(ns / "archive")
    for sid, data in live.items():
        assert data.get("status") in RESTING, (sid, data)
    for name, data in archived.items():
        assert data.get("status") in ENDED | {"killed"}, (name, data)
    # tmux: every session this AO_HOME started belongs to a live record
    owner = str(Path(os.environ["AO_HOME"]).resolve())
    listing = proj.server.cmd("list-sessions", "-F", "#{session_name}\t#{@ao_owner}").stdout
    ours = {line.split("\t")[0] for line in listing if line.endswith("\t" + owner)}
    recorded = {d.get("tmux_name") for d in live.values()}
    assert ours <= recorded, (ours, recorded)
    # worktrees: a live record's, or kept because it holds work
    worktrees = ns / "worktrees"
    owned = {d.get("worktree") for d in live.values()}
    for path in worktrees.iterdir() if worktrees.is_dir() else []:
        assert str(path) in owned or _has_work(path), f"orphan worktree {path}"
    assert "prunable" not in _git(proj.repo, "worktree", "list", "--porcelain")
    # branches: a live record's, or holding commits found nowhere else
    in_use = {d.get("branch") for d in live.values()}
    for branch in _git(proj.repo, "branch", "--format=%(refname:short)").split():
        if branch.startswith("ao/") and branch not in in_use:
            unique = _git(proj.repo, "rev-list", "--count", branch, "--not", "main", "--remotes")
            assert int(unique) > 0, f"orphan branch {branch}"
    # no temp file of a dead writer, no lock still held
    for directory in (ns / "sessions", ns / "archive"):
        if directory.is_dir():
            assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]
    for lock in (ns / "locks").glob("*.lock"):
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if anyone holds it


def _gc_then_check(proj: Project) -> None:
    r = proj.ao("gc", "--json")
    assert r.returncode == 0, r.stderr
    check_invariants(proj)
    assert proj.ao("gc", "--json").stdout.count('"kind"') == 0  # gc is idempotent


@pytest.mark.parametrize("step", SPAWN_STEPS)
def test_spawn_killed_at_each_step(proj: Project, step: str) -> None:
    _crash(proj, step, "new", "sleep 600", "--agent", "shell")
    _gc_then_check(proj)
    # the config still works: a new session starts and stops cleanly
    r = proj.ao("new", "sleep 600", "--agent", "shell", "--json")
    assert r.returncode == 0, r.stderr
    assert proj.ao("stop", "--project", "demo", "--all", "--force").returncode == 0
    _gc_then_check(proj)


@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
@pytest.mark.parametrize("step", STOP_STEPS)
def test_stop_killed_at_each_step_loses_no_work(proj: Project, step: str, dirty: bool) -> None:
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    worktree = _namespace() / "worktrees" / "d-1"
    if dirty:
        (worktree / "notes.txt").write_text("uncommitted work\n")
    _crash(proj, step, "stop", "d-1", "--force")
    _gc_then_check(proj)
    if dirty:  # the work is in the worktree, or in the WIP commit on the branch
        kept = (worktree / "notes.txt").is_file()
        assert kept or "uncommitted work" in _git(proj.repo, "show", "ao/d-1:notes.txt")
    # whatever state the stop reached, the next command finishes the job
    if (_namespace() / "sessions" / "d-1").exists():
        r = proj.ao("stop", "d-1", "--force")
        assert r.returncode == 0, r.stderr
    r = proj.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    _gc_then_check(proj)


@pytest.mark.parametrize("step", RESTORE_STEPS)
def test_restore_killed_at_each_step(proj: Project, step: str) -> None:
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    assert proj.ao("stop", "d-1").returncode == 0
    _crash(proj, step, "restore", "d-1")
    _gc_then_check(proj)
    r = proj.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert session["tmux"] in proj.tmux_names()
    _gc_then_check(proj)


@pytest.mark.parametrize("step", WRITE_STEPS)
def test_killed_between_write_and_rename(proj: Project, step: str) -> None:
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    _crash(proj, step, "stop", "d-1")
    _gc_then_check(proj)
    assert proj.ao("stop", "d-1", "--force").returncode in (0, 4)
    _gc_then_check(proj)


def test_commands_raced_on_one_config(proj: Project) -> None:
    """spawn, send, stop, restore and a watcher pass, all at once, three rounds."""
    proj.configure(top={"maxSessions": 4})
    assert proj.ao("new", "sleep 600", "--agent", "shell", "--name", "base").returncode == 0
    for _ in range(3):
        procs = [
            proj.popen("new", "sleep 600", "--agent", "shell"),
            proj.popen("new", "sleep 600", "--agent", "shell"),
            proj.popen("send", "base", "hello"),
            proj.popen("stop", "base", "--force"),
            proj.popen("restore", "base"),
            proj.popen("watch", "--once"),
            proj.popen("gc"),
        ]
        for p in procs:
            _, err = p.communicate(timeout=180)
            assert "Traceback" not in err, err
        _gc_then_check(proj)
        assert proj.ao("stop", "--project", "demo", "--all", "--force").returncode == 0
        _gc_then_check(proj)
        assert proj.ao("restore", "base").returncode == 0
