"""The built-in ``clone`` workspace plugin: a full git clone per session.

Real git against a bare ``origin`` throughout (``git_repo``); the session tests drive the
real CLI on a private tmux server (``proj``) with ``workspace: clone``.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from ao_plugins.workspace_clone import CloneWorkspace

from ao.sdk.conformance import capabilities, problems
from ao.sdk.contracts import WorkspaceInfo, WorkspaceRequest
from ao.sdk.errors import ConfigError, ConflictError, NotFoundError, SpawnError
from tests.conftest import git
from tests.sessionkit import Project, wait_for

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


def commit(cwd: Path, name: str, text: str = "x\n") -> str:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", f"add {name}")
    return head(cwd)


def alternates(clone: Path) -> Path:
    return clone / ".git" / "objects" / "info" / "alternates"


@pytest.fixture
def ws() -> CloneWorkspace:
    return CloneWorkspace()


# ----------------------------------------------------------------------------- contract


def test_plugin_is_registered_and_keeps_the_contract() -> None:
    (ep,) = [e for e in entry_points(group="ao.workspace") if e.name == "clone"]
    assert ep.load() is CloneWorkspace
    plugin = CloneWorkspace({"shared": True})
    assert problems("workspace", plugin) == []
    assert set(capabilities("workspace", plugin)) == {"SetsAside"}


@pytest.mark.parametrize("options", [{"shared": "yes"}, {"fetchTtl": -1}])
def test_bad_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        CloneWorkspace(options)


# ----------------------------------------------------------------------------- create


def test_create_makes_a_dissociated_clone_on_a_new_branch_from_origin_base(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    local_only = commit(git_repo, "unpushed.txt")  # origin/main wins for a default base
    info = ws.create(request(git_repo, tmp_path))
    clone = info.path
    assert info == WorkspaceInfo(clone, "ao/s1", "main", created_branch=True)
    assert (clone / ".git").is_dir()  # a repository of its own, not a worktree's link file
    assert not alternates(clone).exists()  # its objects are its own: survives the repo's gc
    assert git(clone, "symbolic-ref", "--short", "HEAD").strip() == "ao/s1"
    assert head(clone) == head(git_repo, "origin/main") != local_only
    assert not (clone / "unpushed.txt").exists()
    assert git(clone, "remote", "get-url", "origin").strip() == str(tmp_path / "origin.git")
    assert "branch.ao/s1" not in git(clone, "config", "--list", "--local")  # no upstream
    # the repository's local branches are not the clone's origin/*
    remotes = git(clone, "for-each-ref", "--format=%(refname)", "refs/remotes").split()
    assert remotes == ["refs/remotes/origin/main"]
    assert ws.list(git_repo) == [clone]
    assert ws.status(git_repo, info).has_work is False
    # independent of the project's repository: it still works with the repository gone
    git_repo.rename(tmp_path / "moved")
    try:
        git(clone, "fsck", "--connectivity-only", "--no-dangling")
    finally:
        (tmp_path / "moved").rename(git_repo)


def test_shared_option_keeps_borrowing_the_objects(git_repo: Path, tmp_path: Path) -> None:
    info = CloneWorkspace({"shared": True}).create(request(git_repo, tmp_path))
    assert (info.path / ".git").is_dir()
    borrowed = alternates(info.path).read_text().strip()
    assert Path(borrowed).resolve() == (git_repo / ".git" / "objects").resolve()
    assert head(info.path) == head(git_repo, "origin/main")


def test_create_from_a_base_that_exists_only_locally(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "checkout", "-q", "-b", "feature")
    tip = commit(git_repo, "feature.txt")
    git(git_repo, "checkout", "-q", "main")
    info = ws.create(request(git_repo, tmp_path, base="feature", base_local=True))
    assert head(info.path) == tip
    # the base's commits are in the repository: not the session's work
    assert ws.status(git_repo, info).unpushed == 0
    commit(info.path, "mine.txt")
    assert ws.status(git_repo, info).unpushed == 1


def test_create_checks_out_an_existing_branch_as_it_is(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "branch", "topic")
    git(git_repo, "push", "-q", "-u", "origin", "topic")
    git(git_repo, "checkout", "-q", "topic")
    tip = commit(git_repo, "topic.txt")  # unpushed, in the repository
    git(git_repo, "checkout", "-q", "main")
    info = ws.create(request(git_repo, tmp_path, branch="topic"))
    assert info.created_branch is False
    assert head(info.path) == tip
    assert git(info.path, "rev-parse", "--abbrev-ref", "topic@{upstream}").strip() == "origin/topic"
    assert ws.status(git_repo, info).unpushed == 0  # those commits are safe in the repo
    with pytest.raises(ConflictError, match="already checked out in the clone"):
        ws.create(request(git_repo, tmp_path, branch="topic", path=tmp_path / "worktrees" / "s2"))
    assert not (tmp_path / "worktrees" / "s2").exists()


def test_create_without_origin_clones_from_the_repository(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "remote", "remove", "origin")
    tip = commit(git_repo, "local.txt")
    info = ws.create(request(git_repo, tmp_path))
    assert head(info.path) == tip
    assert Path(git(info.path, "remote", "get-url", "origin").strip()) == git_repo.absolute()
    assert ws.status(git_repo, info).unpushed == 0


def test_create_refuses_unknown_base_and_existing_path_and_leaves_nothing(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        ws.create(request(git_repo, tmp_path, base="nope"))
    assert not (tmp_path / "worktrees" / "s1").exists()
    (tmp_path / "worktrees" / "s1").mkdir(parents=True)
    with pytest.raises(ConflictError):
        ws.create(request(git_repo, tmp_path))
    assert ws.list(git_repo) == []


def test_copy_symlinks_and_post_create_run_in_the_clone_and_are_not_work(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / ".gitignore").write_text(".env\ndata/\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore")
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / ".env").write_text("SECRET=1\n")
    (git_repo / "data").mkdir()
    made = (PY, "-c", "import pathlib; pathlib.Path('made.txt').write_text('ok')")
    req = request(
        git_repo, tmp_path, copy=(".env",), symlinks=("data",), post_create=(made,),
        log_path=tmp_path / "post.log",
    )  # fmt: skip
    info = ws.create(req)
    assert (info.path / ".env").read_text() == "SECRET=1\n"
    assert (info.path / "data").resolve() == (git_repo / "data").resolve()
    assert (info.path / "made.txt").read_text() == "ok"
    status = ws.status(git_repo, info)
    assert status.ignored == () and status.dirty == ("?? made.txt",)


def test_a_failing_post_create_removes_the_clone(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    with pytest.raises(SpawnError, match="post-create command"):
        ws.create(request(git_repo, tmp_path, post_create=((PY, "-c", "raise SystemExit(3)"),)))
    assert not (tmp_path / "worktrees" / "s1").exists()
    assert ws.list(git_repo) == []


# ----------------------------------------------------------------------------- status, destroy


def test_destroy_refuses_work_and_force_keeps_unique_commits_in_the_repository(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    sha = commit(info.path, "a.txt")
    (info.path / "b.txt").write_text("dirty\n")
    status = ws.status(git_repo, info)
    assert (status.dirty, status.unpushed) == (("?? b.txt",), 1)
    with pytest.raises(ConflictError, match=r"clone .* has 1 uncommitted change and 1 unpushed"):
        ws.destroy(git_repo, info)
    assert (info.path / "b.txt").exists()

    git(info.path, "checkout", "-q", "-b", "side")  # another local branch of the clone
    side = commit(info.path, "side.txt")
    git(info.path, "checkout", "-q", "--detach")
    detached = commit(info.path, "detached.txt")
    fetched = (git_repo / ".git" / "FETCH_HEAD").read_text()  # create fetched origin's base
    ws.destroy(git_repo, info, force=True)
    assert not info.path.exists() and ws.list(git_repo) == []
    assert head(git_repo, "refs/heads/ao/s1") == sha
    assert head(git_repo, "refs/heads/side") == side
    assert head(git_repo, f"refs/heads/ao/s1-detached-{detached[:10]}") == detached
    assert (git_repo / ".git" / "FETCH_HEAD").read_text() == fetched  # real fetches only


def test_force_never_overwrites_a_diverged_branch_of_the_repository(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(git_repo, tmp_path))
    sha = commit(info.path, "a.txt")
    git(git_repo, "branch", "ao/s1", "main")
    git(git_repo, "checkout", "-q", "ao/s1")
    theirs = commit(git_repo, "theirs.txt")
    ws.destroy(git_repo, info, force=True)
    assert head(git_repo, "refs/heads/ao/s1") == theirs
    assert head(git_repo, f"refs/heads/ao/s1-saved-{sha[:10]}") == sha


def test_a_pushed_clone_pushes_to_the_real_origin_and_is_removed_then_restored(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    req = request(git_repo, tmp_path)
    info = ws.create(req)
    sha = commit(info.path, "a.txt")
    git(info.path, "push", "-q", "-u", "origin", "ao/s1")
    assert git(tmp_path / "origin.git", "rev-parse", "ao/s1").strip() == sha
    assert "ao/s1" not in git(git_repo, "branch", "--list", "ao/s1")  # not via the repo
    assert ws.status(git_repo, info).has_work is False
    ws.destroy(git_repo, info)
    assert not info.path.exists()

    restored = ws.restore(req)
    assert restored.path == info.path and head(restored.path) == sha
    assert git(restored.path, "rev-parse", "--abbrev-ref", "@{upstream}").strip() == "origin/ao/s1"
    assert ws.restore(req) == WorkspaceInfo(info.path, "ao/s1", "main", created_branch=False)


def test_restore_of_an_unknown_branch_or_onto_a_foreign_directory(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        ws.restore(request(git_repo, tmp_path, branch="ao/gone"))
    (tmp_path / "worktrees" / "s1").mkdir(parents=True)
    with pytest.raises(ConflictError, match="not a clone"):
        ws.restore(request(git_repo, tmp_path))


def test_destroy_never_removes_a_directory_that_is_not_its_clone(
    ws: CloneWorkspace, git_repo: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(git_repo), str(other))
    info = WorkspaceInfo(other, "main", "main", created_branch=False)
    with pytest.raises(ConflictError, match="not a clone"):
        ws.destroy(git_repo, info, force=True)
    assert (other / "README.md").exists()


# ----------------------------------------------------------------------------- sessions


def _namespace() -> Path:
    return next(Path(os.environ["AO_HOME"]).glob("*-demo"))


def _sessions(proj: Project, *args: str) -> list[dict[str, Any]]:
    return proj.ao_json("list", *args)  # type: ignore[return-value]


@pytest.fixture
def cproj(proj: Project) -> Project:
    proj.configure(workspace="clone")
    return proj


@pytest.mark.tmux
def test_ao_new_gives_a_clone_and_stop_keeps_work_and_removes_a_pushed_one(
    cproj: Project,
) -> None:
    for _ in range(3):
        r = cproj.ao("new", "true")
        assert r.returncode == 0, r.stderr
    by_id = {s["id"]: s for s in _sessions(cproj)}
    clones = {sid: Path(s["worktree"]) for sid, s in by_id.items()}
    for sid, clone in clones.items():
        assert (clone / ".git").is_dir() and not alternates(clone).exists()
        assert git(clone, "symbolic-ref", "--short", "HEAD").strip() == f"ao/{sid}"
        assert head(clone) == head(cproj.repo, "origin/main")
    assert git(cproj.repo, "worktree", "list", "--porcelain").count("worktree ") == 1

    r = cproj.ao("send", "d-1", "echo hello > sent.txt")  # the agent itself makes work
    assert r.returncode == 0, r.stderr
    wait_for(lambda: (clones["d-1"] / "sent.txt").exists(), what="the agent's file")
    commit(clones["d-2"], "unpushed.txt")
    commit(clones["d-3"], "pushed.txt")
    git(clones["d-3"], "push", "-q", "origin", "ao/d-3")

    out = {sid: cproj.ao("stop", sid) for sid in clones}
    assert all(r.returncode == 0 for r in out.values()), [r.stderr for r in out.values()]
    assert "kept its worktree (1 uncommitted change)" in out["d-1"].stdout
    assert "kept its worktree (1 unpushed commit)" in out["d-2"].stdout
    assert out["d-3"].stdout.strip() == "stopped d-3"
    assert clones["d-1"].exists() and clones["d-2"].exists() and not clones["d-3"].exists()
    assert (clones["d-1"] / "sent.txt").read_text() == "hello\n"
    assert git(cproj.repo.parent / "origin.git", "log", "--format=%s", "-1", "ao/d-3").strip() == (
        "add pushed.txt"
    )

    r = cproj.ao("restore", "d-3")  # after a clean stop: from origin, on its branch
    assert r.returncode == 0, r.stderr
    assert (clones["d-3"] / "pushed.txt").exists()
    assert git(clones["d-3"], "symbolic-ref", "--short", "HEAD").strip() == "ao/d-3"


@pytest.mark.tmux
def test_stop_force_saves_the_work_in_the_repository_and_restore_brings_it_back(
    cproj: Project,
) -> None:
    assert cproj.ao("new", "true").returncode == 0
    (session,) = _sessions(cproj)
    clone = Path(session["worktree"])
    (clone / "work.txt").write_text("tracked work\n")
    r = cproj.ao("stop", "d-1", "--force", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["data"]
    data = doc[0] if isinstance(doc, list) else doc
    assert data["snapshot"] and not clone.exists()
    # the WIP commit outlives the clone, on the session's branch of the repository
    assert git(cproj.repo, "show", "ao/d-1:work.txt") == "tracked work\n"
    assert head(cproj.repo, "ao/d-1") == data["snapshot"]

    r = cproj.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    assert (clone / "work.txt").read_text() == "tracked work\n"
    assert (clone / ".git").is_dir()


@pytest.mark.tmux
def test_gc_removes_an_orphan_clone_and_keeps_one_holding_work(cproj: Project) -> None:
    assert cproj.ao("new", "true").returncode == 0  # creates the namespace
    orphans = _namespace() / "worktrees"
    ws = CloneWorkspace()
    for name in ("o1", "o2"):
        ws.create(request(cproj.repo, orphans.parent, branch=f"ao/{name}", path=orphans / name))
    (orphans / "o1" / "notes.txt").write_text("precious\n")
    actions = cproj.ao_json("gc")
    assert {(a["kind"], Path(a["target"]).name) for a in actions} == {  # type: ignore[index]
        ("kept-worktree", "o1"),
        ("orphan-worktree", "o2"),
    }
    assert (orphans / "o1" / "notes.txt").read_text() == "precious\n"
    assert not (orphans / "o2").exists()
    assert [p.name for p in ws.list(cproj.repo)] == ["d-1", "o1"]


@pytest.mark.tmux
def test_plugins_clone_options_reach_the_plugin(proj: Project) -> None:
    """`plugins: {clone: {shared: true}}` in the config: the session's clone keeps
    borrowing the checkout's objects (the default copies them in)."""
    proj.configure(workspace="clone", top={"plugins": {"clone": {"shared": True}}})
    made = proj.ao_json("new", "true")
    assert isinstance(made, dict)
    clone = Path(str(made["worktree"]))
    borrowed = alternates(clone).read_text().strip()
    assert Path(borrowed).resolve() == (proj.repo / ".git" / "objects").resolve()
