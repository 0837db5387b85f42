"""The built-in ``worktree`` workspace plugin, against real git repositories (no mocks)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from ao_plugins.workspace_worktree import WorktreeWorkspace

from ao.sdk.contracts import API_VERSION, Workspace, WorkspaceInfo, WorkspaceRequest
from ao.sdk.errors import ConfigError, ConflictError, NotFoundError, UsageError
from tests.conftest import git

PY = sys.executable


def request(repo: Path, tmp_path: Path, branch: str = "ao/s1", **kw: Any) -> WorkspaceRequest:
    fields: dict[str, Any] = {
        "repo": repo,
        "session_id": "s1",
        "path": tmp_path / "worktrees" / "s1",
        "branch": branch,
        "base": "main",
    }
    fields.update(kw)
    return WorkspaceRequest(**fields)


def head(cwd: Path, rev: str = "HEAD") -> str:
    return git(cwd, "rev-parse", rev).strip()


def branches(repo: Path) -> set[str]:
    return set(git(repo, "branch", "--format=%(refname:short)").split())


def commit(cwd: Path, name: str, text: str = "x\n") -> str:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", f"add {name}")
    return head(cwd)


def push_from_clone(tmp_path: Path, name: str) -> str:
    """Push a new commit on main to origin from another clone; return its sha."""
    other = tmp_path / f"other-{name}"
    if not other.exists():
        git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    git(other, "pull", "-q")
    sha = commit(other, name)
    git(other, "push", "-q", "origin", "main")
    return sha


@pytest.fixture
def ws() -> WorktreeWorkspace:
    return WorktreeWorkspace()


# ----------------------------------------------------------------------------- contract


def test_plugin_fits_the_workspace_contract() -> None:
    (ep,) = [e for e in entry_points(group="ao.workspace") if e.name == "worktree"]
    cls = ep.load()
    assert cls is WorktreeWorkspace
    plugin: Workspace = cls({})
    assert plugin.api_version == API_VERSION
    assert WorktreeWorkspace().fetch_ttl == 300


@pytest.mark.parametrize("ttl", ["soon", -1, True, None])
def test_bad_fetch_ttl_is_a_config_error(ttl: object) -> None:
    with pytest.raises(ConfigError, match="fetchTtl"):
        WorktreeWorkspace({"fetchTtl": ttl})


# ----------------------------------------------------------------------------- create


def test_create_makes_a_new_untracked_branch_from_origin_base(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path)
    info = ws.create(req)
    assert info == WorkspaceInfo(path=req.path, branch="ao/s1", base="main", created_branch=True)
    assert (req.path / "README.md").read_text() == "# demo\n"
    assert git(req.path, "symbolic-ref", "--short", "HEAD").strip() == "ao/s1"
    assert head(req.path) == head(git_repo, "origin/main")
    upstream = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "ao/s1@{upstream}"], cwd=git_repo, capture_output=True
    )
    assert upstream.returncode != 0  # --no-track: pushing must set its own upstream
    assert ws.list(git_repo) == [req.path]


def test_create_prefers_origin_base_over_unpushed_local_commits(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    pushed = head(git_repo)
    commit(git_repo, "local-only.txt")
    info = ws.create(request(git_repo, tmp_path))
    assert head(info.path) == pushed
    assert not (info.path / "local-only.txt").exists()


def test_create_fetches_base_only_when_fetch_head_is_stale(git_repo: Path, tmp_path: Path) -> None:
    first = push_from_clone(tmp_path, "one.txt")
    ws = WorktreeWorkspace()
    # The fixture never fetched, so FETCH_HEAD is missing: stale.
    a = ws.create(request(git_repo, tmp_path, "ao/a", path=tmp_path / "w" / "a"))
    assert head(a.path) == first
    second = push_from_clone(tmp_path, "two.txt")
    b = ws.create(request(git_repo, tmp_path, "ao/b", path=tmp_path / "w" / "b"))
    assert head(b.path) == first  # FETCH_HEAD is fresh: no fetch
    eager = WorktreeWorkspace({"fetchTtl": 0})
    c = eager.create(request(git_repo, tmp_path, "ao/c", path=tmp_path / "w" / "c"))
    assert head(c.path) == second


def test_create_survives_a_failing_fetch(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = head(git_repo, "origin/main")
    git(git_repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    info = WorktreeWorkspace({"fetchTtl": 0}).create(request(git_repo, tmp_path))
    assert head(info.path) == pushed


def test_create_without_origin_uses_local_base(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "remote", "remove", "origin")
    local = commit(git_repo, "local.txt")
    info = ws.create(request(git_repo, tmp_path))
    assert head(info.path) == local


def test_create_with_unknown_base_is_not_found_and_creates_nothing(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path, base="trunk")
    with pytest.raises(NotFoundError, match="base branch 'trunk' not found") as err:
        ws.create(req)
    assert "defaultBranch" in str(err.value)
    assert not req.path.exists()
    assert branches(git_repo) == {"main"}


def test_create_not_a_repo_is_not_found(ws: WorktreeWorkspace, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotFoundError, match="not a git repository"):
        ws.create(request(plain, tmp_path))


def test_create_reuses_an_existing_branch(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "switch", "-q", "-c", "feature")
    tip = commit(git_repo, "feature.txt")
    git(git_repo, "switch", "-q", "main")
    info = ws.create(request(git_repo, tmp_path, "feature"))
    assert info.created_branch is False
    assert head(info.path) == tip
    assert (info.path / "feature.txt").exists()


def test_create_branch_checked_out_elsewhere_is_a_conflict(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    ws.create(request(git_repo, tmp_path, "ao/x", path=tmp_path / "w" / "one"))
    with pytest.raises(ConflictError, match="already checked out") as err:
        ws.create(request(git_repo, tmp_path, "ao/x", path=tmp_path / "w" / "two"))
    assert err.value.hint
    assert not (tmp_path / "w" / "two").exists()
    with pytest.raises(ConflictError, match=f"checked out at {git_repo}"):
        ws.create(request(git_repo, tmp_path, "main"))


def test_create_on_an_existing_path_is_a_conflict(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path)
    req.path.mkdir(parents=True)
    (req.path / "keep.txt").write_text("mine")
    with pytest.raises(ConflictError, match="already exists"):
        ws.create(req)
    assert (req.path / "keep.txt").read_text() == "mine"
    assert branches(git_repo) == {"main"}


@pytest.mark.parametrize(
    "branch",
    [
        "$(touch pwned)",
        "`touch pwned`",
        "; rm -rf ~",
        "x && touch pwned",
        "--upload-pack=touch pwned",
        "-b",
        "a\x1b[31mred",
        "\x1b]0;title\x07",
        "a..b",
        "a~1",
        "",
        ".hidden",
        "x.lock",
    ],
)
def test_invalid_branch_is_a_usage_error_and_creates_nothing(
    ws: WorktreeWorkspace,
    git_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    branch: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    req = request(git_repo, tmp_path, branch)
    with pytest.raises(UsageError):
        ws.create(req)
    with pytest.raises(UsageError):
        ws.restore(req)
    assert not req.path.exists()
    assert branches(git_repo) == {"main"}
    assert ws.list(git_repo) == []
    assert not list(tmp_path.rglob("pwned"))


def test_shell_metacharacters_in_a_legal_name_stay_inert(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "$(touch${IFS}pwned)`touch${IFS}pwned`;x|y&z"
    info = ws.create(request(git_repo, tmp_path, name))
    assert name in branches(git_repo)
    assert git(info.path, "symbolic-ref", "--short", "HEAD").strip() == name
    assert not list(tmp_path.rglob("pwned"))


@pytest.mark.parametrize(
    "kw", [{"copy": ("../secret",)}, {"copy": ("/etc/passwd",)}, {"symlinks": (".git",)}]
)
def test_unsafe_copy_or_symlink_entries_are_rejected_up_front(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path, kw: dict[str, Any]
) -> None:
    req = request(git_repo, tmp_path, **kw)
    with pytest.raises(UsageError, match="relative path inside the repository"):
        ws.create(req)
    assert not req.path.exists()
    assert branches(git_repo) == {"main"}


# ----------------------------------------------------------------------------- status


def test_status_reports_dirty_and_unpushed_work(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    assert ws.status(git_repo, info).has_work is False
    (info.path / "README.md").write_text("changed\n")
    (info.path / "new.txt").write_text("new\n")
    status = ws.status(git_repo, info)
    assert status.exists
    assert sorted(status.dirty) == [" M README.md", "?? new.txt"]
    assert status.unpushed == 0
    git(info.path, "commit", "-qam", "edit")
    assert ws.status(git_repo, info).unpushed == 1
    git(info.path, "push", "-q", "origin", "ao/s1")
    status = ws.status(git_repo, info)
    assert status.unpushed == 0
    assert status.dirty == ("?? new.txt",)


def test_status_counts_commits_merged_into_the_base_as_not_unique(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "remote", "remove", "origin")
    info = ws.create(request(git_repo, tmp_path))
    commit(info.path, "a.txt")
    commit(info.path, "b.txt")
    assert ws.status(git_repo, info).unpushed == 2
    git(git_repo, "merge", "-q", "--ff-only", "ao/s1")
    assert ws.status(git_repo, info).unpushed == 0


def test_status_of_a_missing_worktree(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = WorkspaceInfo(path=tmp_path / "nope", branch="ao/s1", base="main", created_branch=True)
    assert ws.status(git_repo, info).exists is False


# ----------------------------------------------------------------------------- destroy


def test_destroy_refuses_uncommitted_and_unpushed_work_and_keeps_files(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    (info.path / "wip.txt").write_text("wip\n")
    (info.path / "README.md").write_text("edited\n")
    with pytest.raises(ConflictError) as err:
        ws.destroy(git_repo, info)
    assert str(err.value) == (
        f"worktree {info.path} has 2 uncommitted changes (commit and push, or pass --force)"
    )
    git(info.path, "add", "wip.txt")
    git(info.path, "commit", "-q", "-m", "wip")
    with pytest.raises(ConflictError, match=r"has 1 uncommitted change and 1 unpushed commit \("):
        ws.destroy(git_repo, info)
    git(info.path, "checkout", "--", "README.md")
    with pytest.raises(ConflictError, match=r"has 1 unpushed commit \(commit and push"):
        ws.destroy(git_repo, info)
    assert (info.path / "wip.txt").read_text() == "wip\n"
    assert ws.list(git_repo) == [info.path]


def test_destroy_force_removes_the_worktree_but_keeps_unique_commits(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    tip = commit(info.path, "work.txt")
    (info.path / "scratch.txt").write_text("lost on purpose\n")
    ws.destroy(git_repo, info, force=True)
    assert not info.path.exists()
    assert ws.list(git_repo) == []
    assert head(git_repo, "refs/heads/ao/s1") == tip


def test_destroy_of_a_clean_pushed_worktree_deletes_the_created_branch(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    commit(info.path, "work.txt")
    git(info.path, "push", "-q", "origin", "ao/s1")
    ws.destroy(git_repo, info)
    assert not info.path.exists()
    assert branches(git_repo) == {"main"}
    assert "ao/s1" in git(git_repo, "ls-remote", "--heads", "origin")


def test_destroy_of_an_untouched_worktree_deletes_the_created_branch(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    ws.destroy(git_repo, info)
    assert not info.path.exists()
    assert branches(git_repo) == {"main"}


def test_destroy_keeps_a_branch_it_did_not_create(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "branch", "feature")
    info = ws.create(request(git_repo, tmp_path, "feature"))
    ws.destroy(git_repo, info)
    assert not info.path.exists()
    assert "feature" in branches(git_repo)


def test_destroy_of_a_vanished_worktree_prunes(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    git(info.path, "commit", "-q", "--allow-empty", "-m", "unique")
    subprocess.run(["rm", "-rf", str(info.path)], check=True)
    ws.destroy(git_repo, info)
    assert ws.list(git_repo) == []
    assert "ao/s1" in branches(git_repo)  # its commit exists nowhere else


def test_destroy_with_symlinks_removes_only_the_worktree(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / "node_modules").mkdir()
    (git_repo / "node_modules" / "dep.js").write_text("dep\n")
    info = ws.create(request(git_repo, tmp_path, symlinks=("node_modules",)))
    ws.destroy(git_repo, info)
    assert not info.path.exists()
    assert (git_repo / "node_modules" / "dep.js").read_text() == "dep\n"


def test_destroy_force_keeps_commits_made_on_a_detached_head(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    git(info.path, "switch", "-q", "--detach")
    tip = commit(info.path, "detached.txt")
    assert ws.status(git_repo, info).unpushed == 1
    ws.destroy(git_repo, info, force=True)
    assert not info.path.exists()
    kept = [b for b in branches(git_repo) if b.startswith("ao/s1-detached-")]
    assert len(kept) == 1
    assert head(git_repo, kept[0]) == tip


# ----------------------------------------------------------------------------- snapshot


def test_snapshot_commits_uncommitted_work_so_force_destroy_loses_nothing(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / "node_modules").mkdir()
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")  # a failing hook must not block a WIP save
    hook.chmod(0o755)
    info = ws.create(request(git_repo, tmp_path, symlinks=("node_modules",)))
    assert ws.snapshot(git_repo, info, "ao: WIP") is None  # clean: nothing to save
    (info.path / "README.md").write_text("edited\n")
    (info.path / "new dir").mkdir()
    (info.path / "new dir" / "n.txt").write_text("new\n")
    sha = ws.snapshot(git_repo, info, "ao: WIP from session s1")
    assert sha is not None and sha == head(info.path)
    assert git(info.path, "log", "-1", "--format=%s").strip() == "ao: WIP from session s1"
    committed = set(git(info.path, "show", "--name-only", "--format=", "HEAD").split("\n"))
    assert committed - {""} == {"README.md", "new dir/n.txt"}  # not the node_modules link
    status = ws.status(git_repo, info)
    assert status.dirty == ()
    assert status.unpushed == 1
    ws.destroy(git_repo, info, force=True)
    assert head(git_repo, "refs/heads/ao/s1") == sha


def test_snapshot_of_a_missing_worktree_is_none(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = WorkspaceInfo(path=tmp_path / "gone", branch="ao/s1", base="main", created_branch=True)
    assert ws.snapshot(git_repo, info, "wip") is None


# ----------------------------------------------------------------------------- restore


def test_restore_after_the_directory_was_removed(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / ".env").write_text("A=1\n")
    req = request(
        git_repo, tmp_path, copy=(".env",), post_create=((PY, "-c", "open('setup', 'w')"),)
    )
    info = ws.create(req)
    tip = commit(info.path, "work.txt")
    subprocess.run(["rm", "-rf", str(info.path)], check=True)
    restored = ws.restore(req)
    assert restored.path == info.path
    assert restored.created_branch is False
    assert head(restored.path) == tip
    assert (restored.path / ".env").read_text() == "A=1\n"
    assert (restored.path / "setup").exists()
    assert ws.list(git_repo) == [info.path]


def test_restore_of_a_present_worktree_returns_it_untouched(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path, post_create=((PY, "-c", "open('ran', 'a').write('x')"),))
    info = ws.create(req)
    restored = ws.restore(req)
    assert restored.path == info.path
    assert (info.path / "ran").read_text() == "x"


def test_restore_from_origin_after_the_branch_was_deleted(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path)
    info = ws.create(req)
    tip = commit(info.path, "work.txt")
    git(info.path, "push", "-q", "origin", "ao/s1")
    ws.destroy(git_repo, info)
    assert "ao/s1" not in branches(git_repo)
    restored = ws.restore(req)
    assert restored.created_branch is True
    assert head(restored.path) == tip
    upstream = git(git_repo, "rev-parse", "--abbrev-ref", "ao/s1@{upstream}").strip()
    assert upstream == "origin/ao/s1"


def test_restore_of_an_unknown_branch_is_not_found(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path, "ao/never")
    with pytest.raises(NotFoundError, match="'ao/never' not found"):
        ws.restore(req)
    assert not req.path.exists()


def test_restore_onto_a_foreign_directory_is_a_conflict(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "branch", "ao/s1")
    req = request(git_repo, tmp_path)
    req.path.mkdir(parents=True)
    with pytest.raises(ConflictError, match="not a worktree"):
        ws.restore(req)


# ----------------------------------------------------------------------------- list


def test_list_returns_every_worktree_but_the_main_checkout(
    ws: WorktreeWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    assert ws.list(git_repo) == []
    a = ws.create(request(git_repo, tmp_path, "ao/a", path=tmp_path / "w" / "a"))
    b = ws.create(request(git_repo, tmp_path, "ao/b", path=tmp_path / "w" / "b"))
    listed = ws.list(git_repo)
    assert [p.resolve() for p in listed] == [a.path.resolve(), b.path.resolve()]
    assert all(p.is_absolute() for p in listed)
