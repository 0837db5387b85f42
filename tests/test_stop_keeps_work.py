"""Stop never loses work outside tracked files: ignored files made after setup and nested
repositories count as work; `stop` keeps them, `stop --force` moves them aside first.

Real git throughout; the session tests drive the real CLI on a private tmux server.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from ao_plugins.workspace_worktree import WorktreeWorkspace

from ao.sdk.contracts import WorkspaceStatus
from ao.sdk.errors import ConfigError, ConflictError
from tests.conftest import git
from tests.sessionkit import Project
from tests.test_workspace_worktree import PY, request

IGNORE = "*.local\n.env\nnotes/\nnode_modules/\n__pycache__/\n*.pyc\ngenerated/\n"


@pytest.fixture
def ws() -> WorktreeWorkspace:
    return WorktreeWorkspace()


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """``git_repo`` with a pushed .gitignore and an ignored ``.env`` to ``copy``."""
    (git_repo / ".gitignore").write_text(IGNORE)
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore")
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / ".env").write_text("SECRET=1\n")
    (git_repo / "node_modules").mkdir()
    return git_repo


def nested_repo(path: Path, *, commits: int = 1) -> None:
    """A git repository at ``path`` with ``commits`` commits of its own."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(commits):
        (path / f"f{i}.txt").write_text(f"{i}\n")
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", f"nested {i}")


def gitlinks(cwd: Path, rev: str) -> list[str]:
    return [line for line in git(cwd, "ls-tree", "-r", rev).splitlines() if "160000" in line]


# ----------------------------------------------------------------------------- status


def test_ignored_files_made_after_setup_are_work_setup_output_and_caches_are_not(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    made = (PY, "-c", "import pathlib; pathlib.Path('generated').mkdir(); "
            "pathlib.Path('generated/schema.json').write_text('{}')")  # fmt: skip
    req = request(repo, tmp_path, copy=(".env",), symlinks=("node_modules",), post_create=(made,))
    info = ws.create(req)
    status = ws.status(repo, info)
    assert (status.ignored, status.nested, status.has_work) == ((), (), False)

    (info.path / "notes.local").write_text("my notes\n")
    (info.path / "notes").mkdir()
    (info.path / "notes" / "plan.md").write_text("plan\n")
    (info.path / "__pycache__").mkdir()
    (info.path / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (info.path / "pkg").mkdir()
    (info.path / "pkg" / "m.pyc").write_bytes(b"\0")
    status = ws.status(repo, info)
    assert status.ignored == ("notes.local", "notes/")
    assert status.dirty == () and status.has_work
    assert status.describe() == "2 ignored files made after setup (notes.local, notes/)"

    (info.path / ".env").write_text("SECRET=2\n")  # a copied file, changed since
    (info.path / "generated" / "more.json").write_text("{}")  # setup output, added to
    assert set(ws.status(repo, info).ignored) == {"notes.local", "notes/", ".env", "generated/"}


def test_copied_files_match_their_source_without_a_setup_record(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    """A worktree from an older ao has no setup record: unchanged copies and ao's symlinks
    are still not work."""
    (repo / "data.local").mkdir()
    info = ws.create(request(repo, tmp_path, copy=(".env",), symlinks=("data.local",)))
    (Path(git(info.path, "rev-parse", "--absolute-git-dir").strip()) / "ao-setup.json").unlink()
    assert ws.status(repo, info).has_work is False
    os.utime(info.path / ".env", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert ws.status(repo, info).ignored == (".env",)


def test_nested_repositories_are_work_whatever_their_state(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(repo, tmp_path))
    nested_repo(info.path / "vendor" / "lib", commits=2)
    (info.path / "empty").mkdir()
    git(info.path / "empty", "init", "-q")  # no commits at all
    status = ws.status(repo, info)
    assert status.nested == ("empty", "vendor/lib")
    assert status.dirty == ()  # `?? vendor/` holds nothing but the nested repo
    assert status.has_work
    assert status.describe() == "2 nested repos (empty, vendor/lib)"
    (info.path / "vendor" / "README").write_text("vendored\n")
    assert ws.status(repo, info).dirty == ("?? vendor/",)


def test_regenerable_option_adds_names_and_is_validated(repo: Path, tmp_path: Path) -> None:
    ws = WorktreeWorkspace({"regenerable": ["*.bak"]})
    info = ws.create(request(repo, tmp_path))
    (info.path / "x.local").write_text("x\n")
    (info.path / "y.local.bak").write_text("y\n")
    git(info.path, "config", "core.excludesFile", str(tmp_path / "excludes"))
    (tmp_path / "excludes").write_text("*.bak\n")
    assert ws.status(repo, info).ignored == ("x.local",)
    for bad in ("node_modules", [""], ["a/b"], [3]):
        with pytest.raises(ConfigError, match="regenerable"):
            WorktreeWorkspace({"regenerable": bad})


def test_describe_names_every_kind_of_work() -> None:
    status = WorkspaceStatus(
        exists=True, dirty=("?? a",), unpushed=2, ignored=("a", "b", "c", "d\x1b[2J"), nested=("n",)
    )
    assert status.describe() == (
        "1 uncommitted change, 2 unpushed commits, 4 ignored files made after setup "
        "(a, b, c, +1 more) and 1 nested repo (n)"
    )
    assert WorkspaceStatus(exists=True, ignored=("e\x1b",)).describe().endswith("(e?)")
    assert WorkspaceStatus(exists=True).describe() == "no work"


# ----------------------------------------------------------------------------- destroy / snapshot


def test_destroy_refuses_a_worktree_holding_only_ignored_work(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(repo, tmp_path))
    (info.path / "notes.local").write_text("keep me\n")
    with pytest.raises(ConflictError, match=r"has 1 ignored file made after setup \(notes.local\)"):
        ws.destroy(repo, info)
    assert (info.path / "notes.local").read_text() == "keep me\n"


def test_snapshot_never_commits_a_nested_repo_as_a_gitlink(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(repo, tmp_path))
    nested_repo(info.path / "lib")
    nested_repo(info.path / "vendor" / "dep")
    (info.path / "vendor" / "README").write_text("vendored\n")
    sha = ws.snapshot(repo, info, "ao: WIP")
    assert sha is not None
    assert git(info.path, "show", "--name-only", "--format=", sha).split() == ["vendor/README"]
    assert gitlinks(info.path, sha) == []
    assert ws.snapshot(repo, info, "ao: WIP") is None  # only nested repos left: nothing to commit


def test_snapshot_survives_an_empty_nested_repo(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(repo, tmp_path))
    nested_repo(info.path / "vendor" / "lib")
    (info.path / "empty").mkdir()
    git(info.path / "empty", "init", "-q")
    (info.path / "vendor" / "README").write_text("vendored\n")
    (info.path / "README.md").write_text("edited\n")
    sha = ws.snapshot(repo, info, "ao: WIP")
    assert sha is not None
    committed = set(git(info.path, "show", "--name-only", "--format=", sha).split())
    assert committed == {"README.md", "vendor/README"}
    assert gitlinks(info.path, sha) == []


def test_set_aside_moves_ignored_work_and_nested_repos_with_their_history(
    ws: WorktreeWorkspace, repo: Path, tmp_path: Path
) -> None:
    info = ws.create(request(repo, tmp_path, copy=(".env",)))
    dest = tmp_path / "saved" / "s1"
    assert ws.set_aside(repo, info, dest) == ()
    assert not dest.exists()  # nothing to move: no folder
    nested_repo(info.path / "vendor" / "lib", commits=3)
    (info.path / "notes").mkdir()
    (info.path / "notes" / "plan.md").write_text("plan\n")
    (info.path / "pkg").mkdir()
    (info.path / "pkg" / "a.local").write_text("a\n")
    moved = ws.set_aside(repo, info, dest)
    assert sorted(moved) == ["notes", "pkg/a.local", "vendor/lib"]
    assert (dest / "notes" / "plan.md").read_text() == "plan\n"
    assert (dest / "pkg" / "a.local").read_text() == "a\n"
    assert git(dest / "vendor" / "lib", "rev-list", "--count", "HEAD").strip() == "3"
    assert (info.path / ".env").exists()  # ao's own copy stays (it is not work)
    assert not ws.status(repo, info).has_work
    assert oct((dest).stat().st_mode & 0o777) == oct(0o700)


# ----------------------------------------------------------------------------- sessions


def _configure_with_ignores(proj: Project) -> None:
    (proj.repo / ".gitignore").write_text(IGNORE)
    git(proj.repo, "add", ".gitignore")
    git(proj.repo, "commit", "-q", "-m", "ignore")
    git(proj.repo, "push", "-q", "origin", "main")
    (proj.repo / ".env").write_text("SECRET=1\n")
    proj.configure(copy=[".env"])


def _namespace() -> Path:
    return next(Path(os.environ["AO_HOME"]).glob("*-demo"))


def _events(kind: str) -> list[dict[str, object]]:
    lines = (_namespace() / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == kind]


@pytest.mark.tmux
def test_stop_keeps_a_worktree_with_ignored_files_and_nested_repos_and_names_them(
    proj: Project,
) -> None:
    _configure_with_ignores(proj)
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    wt = Path(session["worktree"])
    (wt / "notes.local").write_text("precious\n")
    nested_repo(wt / "vendor" / "lib")
    r = proj.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert (
        "kept its worktree (1 ignored file made after setup (notes.local) "
        "and 1 nested repo (vendor/lib))"
    ) in r.stdout
    assert (wt / "notes.local").read_text() == "precious\n"
    assert (wt / "vendor" / "lib" / ".git").is_dir()


@pytest.mark.tmux
def test_stop_removes_a_worktree_whose_ignored_files_setup_made(proj: Project) -> None:
    _configure_with_ignores(proj)
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    wt = Path(session["worktree"])
    assert (wt / ".env").exists()
    (wt / "__pycache__").mkdir()
    (wt / "__pycache__" / "x.pyc").write_bytes(b"\0")
    r = proj.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stopped d-1"
    assert not wt.exists()


@pytest.mark.tmux
def test_stop_force_moves_ignored_files_and_nested_repos_aside_and_commits_no_gitlink(
    proj: Project,
) -> None:
    _configure_with_ignores(proj)
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    wt, branch = Path(session["worktree"]), session["branch"]
    (wt / "notes.local").write_text("precious\n")
    nested_repo(wt / "vendor" / "lib", commits=2)
    (wt / "empty").mkdir()
    git(wt / "empty", "init", "-q")  # used to make `stop --force` exit 6 (agent already dead)
    (wt / "work.txt").write_text("tracked work\n")

    r = proj.ao("stop", "d-1", "--force")
    assert r.returncode == 0, r.stderr
    assert not wt.exists()
    assert git(proj.repo, "show", f"{branch}:work.txt") == "tracked work\n"
    assert gitlinks(proj.repo, branch) == []

    (saved,) = (_namespace() / "saved").iterdir()
    assert saved.name.startswith("d-1_")
    assert (saved / "notes.local").read_text() == "precious\n"
    assert git(saved / "vendor" / "lib", "rev-list", "--count", "HEAD").strip() == "2"
    assert (saved / "empty" / ".git").is_dir()
    assert not (saved / ".env").exists()  # ao's copy is not work
    (event,) = _events("workspace.saved")
    assert event["data"] == {"dir": str(saved), "paths": ["empty", "vendor/lib", "notes.local"]}
    assert str(saved) in str(event["message"])
    assert [s["status"] for s in proj.ao_json("list", "--all")] == ["killed"]  # type: ignore[union-attr]


@pytest.mark.tmux
def test_stop_force_says_where_it_moved_ignored_files_and_nested_repos(proj: Project) -> None:
    _configure_with_ignores(proj)
    for _ in range(2):
        assert proj.ao("new", "true").returncode == 0
    for session in proj.ao_json("list"):  # type: ignore[attr-defined]
        (Path(session["worktree"]) / "notes.local").write_text("precious\n")
    r = proj.ao("stop", "d-1", "--force")
    assert r.returncode == 0, r.stderr
    (saved,) = (_namespace() / "saved").iterdir()
    assert f"  ignored files and nested repos it held were moved to {saved}\n" in r.stdout
    (stopped,) = _events("session.stopped")
    assert stopped["data"]["saved"] == str(saved)  # type: ignore[index]
    (doc,) = proj.ao_json("stop", "d-2", "--force")  # type: ignore[misc]
    assert doc["saved"] and (Path(doc["saved"]) / "notes.local").read_text() == "precious\n"
    archived = proj.ao_json("list", "--all")
    assert len(archived) == 2  # type: ignore[arg-type]


@pytest.mark.tmux
def test_stop_force_that_cannot_save_keeps_the_worktree_and_says_why(proj: Project) -> None:
    _configure_with_ignores(proj)
    assert proj.ao("new", "true").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    wt = Path(session["worktree"])
    (wt / "notes.local").write_text("precious\n")
    (_namespace() / "saved").write_text("in the way\n")  # no folder can be made under it
    r = proj.ao("stop", "d-1", "--force")
    assert r.returncode == 0, r.stderr
    assert "kept its worktree (removing it failed: could not move" in r.stdout
    assert (wt / "notes.local").read_text() == "precious\n"
    assert [s["status"] for s in proj.ao_json("list", "--all")] == ["killed"]  # type: ignore[union-attr]


@pytest.mark.tmux
def test_gc_keeps_an_orphan_worktree_holding_ignored_work(proj: Project) -> None:
    _configure_with_ignores(proj)
    assert proj.ao("new", "true").returncode == 0  # creates the namespace
    orphans = _namespace() / "worktrees"
    for name in ("o1", "o2"):
        git(proj.repo, "worktree", "add", "-q", "-b", f"ao/{name}", str(orphans / name), "main")
    (orphans / "o1" / "notes.local").write_text("precious\n")
    actions = proj.ao_json("gc")
    assert {(a["kind"], Path(a["target"]).name) for a in actions} == {  # type: ignore[index]
        ("kept-worktree", "o1"),
        ("orphan-worktree", "o2"),
    }
    (kept,) = [a for a in actions if a["kind"] == "kept-worktree"]  # type: ignore[index]
    assert kept["detail"] == "orphan worktree holds 1 ignored file made after setup (notes.local)"  # type: ignore[index]
    assert (orphans / "o1" / "notes.local").read_text() == "precious\n"
    assert not (orphans / "o2").exists()
