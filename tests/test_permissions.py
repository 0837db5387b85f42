"""Files ao writes under AO_HOME are the owner's alone: 0600 files, 0700 directories
(issue 8, item 17). Made with explicit modes, never by changing the process umask."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao.sdk.home import ao_home, private_dir, tighten
from ao.store.locks import (
    append_private,
    atomic_create,
    atomic_write,
    locked,
    try_lock,
    write_private,
)
from ao.store.paths import ProjectPaths
from tests.sessionkit import Project, wait_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def exposed(root: Path) -> list[str]:
    """Files readable and directories usable by group or others under ``root``.

    A session's worktree is the user's checkout (git and the agent write it with the
    user's umask): only the ``worktrees`` directory that holds it must be private.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here.name == "worktrees" and here.parent.parent == root:
            dirnames[:] = []
        for name in [*dirnames, *filenames]:
            path = here / name
            if path.is_symlink():
                continue
            if mode(path) & 0o077:
                found.append(f"{oct(mode(path))} {path.relative_to(root)}")
    if mode(root) & 0o077:
        found.append(f"{oct(mode(root))} (AO_HOME itself)")
    return sorted(found)


def test_private_dir_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    for value in (0o022, 0o000, 0o277):
        with umask(value):
            target = private_dir(tmp_path / f"u{value:o}" / "a" / "b")
            assert os.umask(value) == value  # ao never changes the process umask
        assert target.is_dir()
        for d in (target, target.parent, target.parent.parent):
            assert mode(d) == 0o700, (oct(value), d)


def test_private_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "locks").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        private_dir(tmp_path / "locks" / "sub")
    assert info.value.filename == str(tmp_path / "locks")


def test_state_writers_create_private_files_under_ao_home() -> None:
    home = ao_home()
    with umask(0o022):
        private_dir(home / "p")
        atomic_write(home / "p" / "record", "a=1\n")
        atomic_create(home / "p" / "new", "b=2\n")
        append_private(home / "p" / "events.jsonl", b"{}\n")
        append_private(home / "q" / "events.jsonl", b"{}\n")  # creates its directory
        write_private(home / "r" / "screen.txt", "screen\n")
        with locked(home / "locks" / "x.lock"):
            pass
        fd = try_lock(home / "locks2" / "y.lock")
        assert fd is not None
        os.close(fd)
    for name in ("p/record", "p/new", "p/events.jsonl", "q/events.jsonl", "r/screen.txt",
                 "locks/x.lock", "locks2/y.lock"):  # fmt: skip
        assert mode(home / name) == 0o600, name
    for name in ("p", "q", "r", "locks", "locks2"):
        assert mode(home / name) == 0o700, name
    assert not [p for p in (home / "p").iterdir() if p.name.startswith(".")]


def test_older_loose_files_are_tightened_when_written() -> None:
    home = private_dir(ao_home())
    record, events, lock = home / "record", home / "events.jsonl", home / "x.lock"
    for path in (record, events, lock):
        path.write_text("old\n")
        path.chmod(0o644)
    atomic_write(record, "new\n")
    append_private(events, b"more\n")
    with locked(lock):
        pass
    assert [mode(p) for p in (record, events, lock)] == [0o600] * 3
    assert events.read_text() == "old\nmore\n"


def test_files_outside_ao_home_keep_their_mode(tmp_path: Path) -> None:
    """The user's config file is not ao's state: an edit keeps its mode, a new one gets
    the umask default."""
    config = tmp_path / "agent-orchestrator.yaml"
    config.write_text("a: 1\n")
    config.chmod(0o640)
    atomic_write(config, "a: 2\n")
    assert mode(config) == 0o640 and config.read_text() == "a: 2\n"
    with umask(0o022):
        atomic_write(tmp_path / "new.yaml", "b: 1\n")
    assert mode(tmp_path / "new.yaml") == 0o644


def test_ensure_tightens_what_an_older_ao_left_open(tmp_path: Path) -> None:
    paths = ProjectPaths(tmp_path / "agent-orchestrator.yaml", "demo")
    for d in (paths.sessions, paths.archive, paths.locks, paths.logs):
        d.mkdir(parents=True)
    for d in (ao_home(), paths.root, paths.sessions, paths.archive, paths.locks, paths.logs):
        d.chmod(0o755)
    paths.origin.write_text("x\n")
    paths.origin.chmod(0o644)
    paths.ensure()
    assert exposed(ao_home()) == []


def test_ensure_names_a_file_where_a_directory_belongs(tmp_path: Path) -> None:
    paths = ProjectPaths(tmp_path / "agent-orchestrator.yaml", "demo")
    paths.root.mkdir(parents=True)
    paths.archive.write_text("not a directory\n")
    with pytest.raises(NotADirectoryError) as info:
        paths.ensure()
    assert info.value.filename == str(paths.archive)
    assert paths.archive.read_text() == "not a directory\n"


def test_tighten_leaves_shared_and_home_directories_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    tighten(shared)
    assert mode(shared) == 0o1777
    home = Path.home()
    home.chmod(0o755)
    tighten(home)
    assert mode(home) == 0o755


@pytest.mark.tmux
def test_nothing_under_ao_home_is_readable_by_others(proj: Project) -> None:
    """After start, new, send and stop (real tmux, real git), no file under AO_HOME is
    group/other readable and no directory group/other usable."""
    with umask(0o022):
        r = proj.ao("start", str(proj.repo), "--no-watch")
        assert r.returncode == 0, r.stderr
        r = proj.ao("new", "touch made-by-agent; echo done")
        assert r.returncode == 0, r.stderr
        r = proj.ao("send", "d-1", "echo again")
        assert r.returncode == 0, r.stderr
        (worktree,) = ao_home().glob("*-demo/worktrees/d-1")
        wait_for(lambda: (worktree / "made-by-agent").exists(), what="the agent's file")
        # the agent kept the user's umask: ao never changes the process umask
        assert mode(worktree / "made-by-agent") == 0o644
        r = proj.ao("stop", "d-1", "--force")
        assert r.returncode == 0, r.stderr
    offenders = exposed(ao_home())
    assert not offenders, "readable by group/other:\n" + "\n".join(offenders)
