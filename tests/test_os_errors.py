"""Operating-system failures are one line naming the path and the fix (issue 8, item 15).

Each case is reproduced for real where the machine allows it: a file at AO_HOME, a
deleted working directory, ``locks/`` or ``archive/`` a file, a read-only AO_HOME (a
read-only bind mount) and a full disk (a 2 MB tmpfs). Mounting needs root; without it
those two tests skip and say so. Permission bits do not stop root, so "permission
denied" is injected at the write call (in-process) instead.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao.sdk.errors import FileSystemError
from ao.store.oserrors import from_os_error
from tests.sessionkit import Project, wait_for

EXIT_OS = FileSystemError.exit_code


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ao: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def home() -> Path:
    return Path(os.environ["AO_HOME"])


def state(root: Path) -> dict[str, bytes]:
    """Session records (live and archived) byte for byte, and any temporary file left."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if "worktrees" in rel.parts or path.is_dir():
            continue
        if rel.parts[-2:-1] in (("sessions",), ("archive",)):
            found[str(rel)] = path.read_bytes()
        elif path.name.endswith((".tmp", ".new")):
            found[str(rel)] = b"<temporary file left behind>"
    return found


# ------------------------------------------------------------------ the error itself


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.ENOSPC, "disk (or your quota) is full"),
        (errno.EDQUOT, "disk (or your quota) is full"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "set AO_HOME to a directory you own"),
        (errno.EPERM, "permissions"),
        (errno.EISDIR, "a directory is where ao expects a file"),
    ],
)
def test_each_errno_gets_a_fix(code: int, hint: str) -> None:
    err = from_os_error(OSError(code, os.strerror(code), "/some/where"))
    assert err.exit_code == EXIT_OS
    assert err.message.startswith("/some/where: ")
    assert err.hint is not None and hint in err.hint


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    err = from_os_error(NotADirectoryError(errno.ENOTDIR, "Not a directory", str(blocker / "a/b")))
    assert err.message == f"{blocker} is a file where ao needs a directory"
    err = from_os_error(FileExistsError(errno.EEXIST, "File exists", str(blocker)))
    assert err.message == f"{blocker} already exists and is not a directory"


def test_a_write_without_a_path_names_ao_home_and_paths_stay_on_one_line() -> None:
    err = from_os_error(OSError(errno.ENOSPC, "No space left on device"))
    assert err.message == f"no space left on device (while using {home()})"
    err = from_os_error(OSError(errno.EACCES, "Permission denied", "/tmp/a\nb"))
    assert "\n" not in str(err) and "'/tmp/a\\nb'" in err.message


def test_permission_denied_reaches_the_user_as_one_line(
    proj: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EACCES (root ignores mode bits, so it is injected where ao creates its directories)."""
    import ao.store.paths
    from ao.cli import main

    def refuse(path: Path) -> Path:
        raise PermissionError(errno.EACCES, "Permission denied", str(home()))

    monkeypatch.chdir(proj.repo.parent)
    monkeypatch.setattr(ao.store.paths, "private_dir", refuse)
    with pytest.raises(SystemExit) as info:
        main(["new", "task"])
    assert info.value.code == EXIT_OS
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"ao: error: {home()}: permission denied — ")


# ------------------------------------------------------------------ real reproductions


@pytest.mark.tmux
def test_ao_home_that_is_a_file(proj: Project) -> None:
    home().parent.mkdir(parents=True, exist_ok=True)
    home().write_text("not a directory\n")
    r = proj.ao("new", "task")
    assert r.returncode == EXIT_OS, r.stderr
    line = one_error_line(r.stderr)
    assert f"{home()} is a file where ao needs a directory" in line and "mv " in line
    assert home().read_text() == "not a directory\n"
    assert proj.tmux_names() == []


def test_a_deleted_working_directory(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"import os, runpy, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
    script += "sys.argv = ['ao', 'list']; runpy.run_module('ao', run_name='__main__')"
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == EXIT_OS, r.stderr
    line = one_error_line(r.stderr)
    assert "the current directory no longer exists" in line and "cd " in line


@pytest.fixture
def one_session(proj: Project) -> Iterator[Project]:
    assert proj.ao("new", "echo one").returncode == 0
    yield proj


@pytest.mark.tmux
@pytest.mark.parametrize("command", [("new", "two"), ("stop", "d-1"), ("send", "d-1", "hi")])
def test_locks_dir_that_is_a_file(one_session: Project, command: tuple[str, ...]) -> None:
    (root,) = home().glob("*-demo")
    before = state(root)
    locks = root / "locks"
    locks.rename(root / "locks.saved")
    locks.write_text("")
    r = one_session.ao(*command)
    assert r.returncode == EXIT_OS, r.stderr
    assert f"{locks} is a file where ao needs a directory" in one_error_line(r.stderr)
    assert state(root) == before
    assert [n for n in one_session.tmux_names() if n.endswith("-d-1")]


@pytest.mark.tmux
def test_archive_dir_that_is_a_file(one_session: Project) -> None:
    (root,) = home().glob("*-demo")
    before = state(root)
    archive = root / "archive"
    archive.rmdir()
    archive.write_text("")
    r = one_session.ao("stop", "d-1")
    assert r.returncode == EXIT_OS, r.stderr
    assert str(archive) in one_error_line(r.stderr)
    assert state(root) == before  # the record was not lost


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@pytest.fixture
def small_disk(proj: Project) -> Iterator[Path]:
    """AO_HOME on a 2 MB tmpfs (root only)."""
    target = home()
    target.mkdir(parents=True, exist_ok=True)
    r = _mount("-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(target))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield target
    finally:
        proj.server.kill()
        _umount(target)


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.mark.tmux
def test_disk_full_during_new_stop_and_watch(proj: Project, small_disk: Path) -> None:
    assert proj.ao("new", "echo one").returncode == 0
    (root,) = small_disk.glob("*-demo")
    wait_for(lambda: any(n.endswith("-d-1") for n in proj.tmux_names()), what="d-1")
    fill(small_disk)
    before = state(root)
    for command in (("new", "two"), ("stop", "d-1"), ("watch", "--once")):
        r = proj.ao(*command)
        assert r.returncode == EXIT_OS, (command, r.stderr)
        line = one_error_line(r.stderr)
        assert "no space left on device" in line and str(small_disk) in line, line
        assert "free some space" in line
        assert state(root) == before, command
    assert [n for n in proj.tmux_names() if n.endswith("-d-1")]
    (small_disk / "filler").unlink()
    assert proj.ao("stop", "d-1").returncode == 0


@pytest.mark.tmux
def test_read_only_ao_home(one_session: Project) -> None:
    target = home()
    r = _mount("--bind", str(target), str(target))
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root): {r.stderr.strip()}")
    try:
        r = _mount("-o", "remount,bind,ro", str(target))
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {r.stderr.strip()}")
        (root,) = target.glob("*-demo")
        before = state(root)
        for command in (("new", "two"), ("stop", "d-1"), ("send", "d-1", "hi")):
            r = one_session.ao(*command)
            assert r.returncode == EXIT_OS, (command, r.stderr)
            line = one_error_line(r.stderr)
            assert str(target) in line and "read-only" in line, line
            assert state(root) == before
        assert one_session.ao("list").returncode == 0  # reading still works
    finally:
        _umount(target)
    assert [n for n in one_session.tmux_names() if n.endswith("-d-1")]
