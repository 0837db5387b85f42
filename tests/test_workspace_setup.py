"""The worktree workspace's setup of a new checkout: copy globs, symlinks, postCreate
commands (their log, timeouts, failures and cleanup), against real git repositories."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from ao_plugins.workspace_worktree import WorktreeWorkspace

from ao.sdk.errors import SpawnError
from tests.conftest import git
from tests.test_workspace_worktree import PY, branches, commit, request


@pytest.fixture
def ws() -> WorktreeWorkspace:
    return WorktreeWorkspace()


# ----------------------------------------------------------------------------- post-create


def test_copy_globs_copy_untracked_files_keep_mode_and_never_overwrite(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / ".env").write_text("SECRET=1\n")
    (git_repo / ".env.local").write_text("LOCAL=1\n")
    (git_repo / "api").mkdir()
    (git_repo / "api" / ".env").write_text("API=1\n")
    (git_repo / "bin").mkdir()
    tool = git_repo / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o750)
    (git_repo / ".envdir").mkdir()  # matches .env* but is a directory: skipped
    (git_repo / "README.md").write_text("locally edited\n")  # tracked: never overwritten
    req = request(git_repo, tmp_path, copy=(".env*", "api/.env", "bin/*", "README.md", "nothing-*"))
    info = ws.create(req)
    assert (info.path / ".env").read_text() == "SECRET=1\n"
    assert (info.path / ".env.local").read_text() == "LOCAL=1\n"
    assert (info.path / "api" / ".env").read_text() == "API=1\n"
    assert stat.S_IMODE((info.path / "bin" / "tool").stat().st_mode) == 0o750
    assert not (info.path / ".envdir").exists()
    assert (info.path / "README.md").read_text() == "# demo\n"


def test_recursive_copy_glob_skips_git_dir_and_nested_worktrees(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / ".env").write_text("ROOT\n")
    (git_repo / "pkg").mkdir()
    (git_repo / "pkg" / ".env").write_text("PKG\n")
    nested = git_repo / ".worktrees"
    first = ws.create(request(git_repo, tmp_path, "ao/a", path=nested / "a", copy=("**/.env",)))
    assert (first.path / "pkg" / ".env").read_text() == "PKG\n"
    second = ws.create(request(git_repo, tmp_path, "ao/b", path=nested / "b", copy=("**/.env",)))
    assert (second.path / ".env").read_text() == "ROOT\n"
    assert not (second.path / ".worktrees").exists()


def test_symlinks_link_to_the_repo_skip_missing_and_leave_the_worktree_clean(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / "node_modules" / "left-pad").mkdir(parents=True)
    (git_repo / "shared").mkdir()
    commit(git_repo, "shared/data.txt", "tracked\n")
    git(git_repo, "push", "-q", "origin", "main")
    req = request(git_repo, tmp_path, symlinks=("node_modules", "shared", "missing"))
    info = ws.create(req)
    for rel in ("node_modules", "shared"):
        link = info.path / rel
        assert link.is_symlink()
        assert link.readlink() == git_repo / rel
    assert (info.path / "node_modules" / "left-pad").is_dir()
    assert not (info.path / "missing").exists()
    assert not (info.path / "missing").is_symlink()
    status = ws.status(git_repo, info)
    assert status.dirty == ()
    assert not status.has_work


def test_post_create_commands_run_in_the_worktree_and_log_output(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "s1.log"
    script = (
        "import sys, pathlib; pathlib.Path('made.txt').write_text('ok'); "
        "print('to-out'); print('to-err', file=sys.stderr)"
    )
    req = request(
        git_repo,
        tmp_path,
        post_create=((PY, "-c", script), (PY, "-c", "print('second')")),
        log_path=log,
    )
    info = ws.create(req)
    assert (info.path / "made.txt").read_text() == "ok"
    text = log.read_text()
    assert "to-out" in text and "to-err" in text and "second" in text
    headers = [line for line in text.splitlines() if line.startswith("=== ") and "$ " in line]
    assert len(headers) == 2
    assert text.index("to-out") < text.index("second")


def test_failing_post_create_command_removes_worktree_and_new_branch(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    log = tmp_path / "s1.log"
    failing = (PY, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)")
    never = (PY, "-c", "open('never.txt', 'w')")
    req = request(git_repo, tmp_path, post_create=(failing, never), log_path=log)
    with pytest.raises(SpawnError) as err:
        ws.create(req)
    msg = str(err.value)
    assert "exit 3" in msg and "boom" in msg and str(log) in msg and "sys.exit(3)" in msg
    assert not req.path.exists()
    assert branches(git_repo) == {"main"}
    assert ws.list(git_repo) == []
    assert "boom" in log.read_text()
    assert not (git_repo / "never.txt").exists()


def test_post_create_timeout_is_a_spawn_error_with_cleanup(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    log = tmp_path / "s1.log"
    req = request(
        git_repo,
        tmp_path,
        post_create=((PY, "-c", "import time; time.sleep(30)"),),
        post_create_timeout=0.5,
        log_path=log,
    )
    started = time.monotonic()
    with pytest.raises(SpawnError, match=r"timed out after 0\.5s"):
        ws.create(req)
    assert time.monotonic() - started < 15
    assert not req.path.exists()
    assert branches(git_repo) == {"main"}
    assert "timed out" in log.read_text()


def test_each_post_create_command_keeps_its_own_timeout(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    """A slow command within its long timeout passes; the next one is killed at its short one."""
    req = request(
        git_repo,
        tmp_path,
        post_create=(
            (PY, "-c", "import time; time.sleep(1.5)"),
            (PY, "-c", "import time; time.sleep(30)"),
        ),
        post_create_timeouts=(20.0, 0.5),
        post_create_timeout=1.0,  # neither command may fall back to this
        log_path=tmp_path / "s1.log",
    )
    started = time.monotonic()
    with pytest.raises(SpawnError, match=r"time\.sleep\(30\).* timed out after 0\.5s"):
        ws.create(req)
    assert time.monotonic() - started < 15
    assert "exit 0" in (tmp_path / "s1.log").read_text()  # the 1.5 s command finished
    assert not req.path.exists()


def test_missing_post_create_program_is_a_spawn_error(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path, post_create=(("ao-no-such-program-xyz", "--x"),))
    with pytest.raises(SpawnError, match="could not start"):
        ws.create(req)
    assert not req.path.exists()


def test_failed_setup_keeps_a_branch_it_did_not_create(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "branch", "feature")
    req = request(git_repo, tmp_path, "feature", post_create=((PY, "-c", "raise SystemExit(1)"),))
    with pytest.raises(SpawnError):
        ws.create(req)
    assert not req.path.exists()
    assert "feature" in branches(git_repo)
