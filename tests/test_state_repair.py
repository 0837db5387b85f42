"""State that other commands or crashes left odd: archived look-alikes, unreadable files,
restoring what a clean stop removed. Real tmux and git."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.sessionkit import Project

pytestmark = pytest.mark.tmux


def _namespace() -> Path:
    return next(Path(os.environ["AO_HOME"]).glob("*-demo"))


def _branches(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "branch", "--format=%(refname:short)"], cwd=repo, capture_output=True,
        text=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    return out.split()


def test_archived_ids_sharing_a_prefix_never_collide(proj: Project) -> None:
    """Issue #8.7: `p_b` archived; `ao restore p` and `ao logs p` must not find it."""
    r = proj.ao("new", "echo screen-of-p_b; sleep 600", "--agent", "shell", "--name", "p_b")
    assert r.returncode == 0, r.stderr
    assert proj.ao("stop", "p_b", "--force").returncode == 0
    r = proj.ao("restore", "p")
    assert r.returncode == 4, r.stderr
    assert "no session 'p'" in r.stderr
    assert proj.ao_json("list") == []  # nothing was unarchived as spawning
    r = proj.ao("logs", "p")
    assert r.returncode == 4 and "screen-of-p_b" not in r.stdout
    assert "screen-of-p_b" in proj.ao("logs", "p_b").stdout
    assert proj.ao("restore", "p_b").returncode == 0


def test_restore_after_a_clean_stop_recreates_the_branch(proj: Project) -> None:
    """Issue #8.8: a clean stop deletes the branch ao created (it held nothing of its
    own); restore makes it again from the base instead of failing half-way."""
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    assert proj.ao("stop", "d-1").returncode == 0
    assert "ao/d-1" not in _branches(proj.repo)
    r = proj.ao("restore", "d-1", "--json")
    assert r.returncode == 0, r.stderr
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    assert session["status"] in ("working", "ready") and session["branch"] == "ao/d-1"
    assert "ao/d-1" in _branches(proj.repo)
    assert session["tmux"] in proj.tmux_names()


def test_failed_restore_puts_the_record_back(proj: Project) -> None:
    """Issue #8.8: a restore that cannot work leaves the session archived as it was,
    with the reason, not `spawning` until `ao gc`."""
    subprocess.run(["git", "branch", "mine"], cwd=proj.repo, check=True, timeout=10)
    assert proj.ao("new", "sleep 600", "--agent", "shell", "--branch", "mine").returncode == 0
    assert proj.ao("stop", "d-1").returncode == 0
    subprocess.run(["git", "branch", "-D", "mine"], cwd=proj.repo, capture_output=True, timeout=10)
    r = proj.ao("restore", "d-1")
    assert r.returncode == 4, r.stderr
    assert "branch 'mine'" in r.stderr and "ao new" in r.stderr
    assert proj.ao_json("list") == []
    (archived,) = [s for s in proj.ao_json("list", "--all") if s["id"] == "d-1"]  # type: ignore[union-attr]
    assert archived["status"] == "killed"


@pytest.mark.parametrize("kind", ["not-utf8", "directory", "archive-not-utf8"])
def test_an_unreadable_state_file_is_skipped_then_quarantined(proj: Project, kind: str) -> None:
    """Issue #8.9: one bad file does not break list/status/watch/gc; gc moves it aside."""
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    ns = _namespace()
    if kind == "not-utf8":
        bad = ns / "sessions" / "d-77"
        bad.write_bytes(b"id=d-77\nstatus=\xff\xfe\n")
    elif kind == "directory":
        bad = ns / "sessions" / "d-77"
        bad.mkdir()
    else:
        (ns / "archive").mkdir(exist_ok=True)
        bad = ns / "archive" / "d-77_20260101T000000Z"
        bad.write_bytes(b"\xff\xfe")
    for args in (("list",), ("status",), ("list", "--all"), ("watch", "--once")):
        r = proj.ao(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert "d-1" in r.stdout or args[0] == "watch"
        if (args[0] == "list" and kind != "archive-not-utf8") or args == ("list", "--all"):
            assert "ao: warning: skipped" in r.stderr and str(bad) in r.stderr, r.stderr
    actions = proj.ao_json("gc")
    assert [a["kind"] for a in actions] == ["quarantined"]  # type: ignore[union-attr]
    assert not bad.exists()
    assert len(list((ns / "quarantine").iterdir())) == 1
    r = proj.ao("list")
    assert r.returncode == 0 and "warning" not in r.stderr


def test_gc_removes_temp_files_of_dead_writers_only(proj: Project) -> None:
    """Issue #8.10: a kill between write and rename leaves `.<id>.<pid>.tmp`."""
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    sessions = _namespace() / "sessions"
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = sessions / f".d-1.{dead.pid}.tmp"
    orphan.write_text("id=d-1\n")
    mine = sessions / f".d-1.{os.getpid()}.tmp"  # a writer that is alive: not touched
    mine.write_text("id=d-1\n")
    try:
        actions = proj.ao_json("gc")
        assert [(a["kind"], a["target"]) for a in actions] == [("temp-file", str(orphan))]  # type: ignore[index]
        assert not orphan.exists() and mine.exists()
    finally:
        mine.unlink(missing_ok=True)


def test_a_malformed_value_neither_hides_the_session_nor_is_lost(proj: Project) -> None:
    """A value a known key cannot hold (a hand edit, a newer ao's) is warned about and
    kept as written; keys this ao does not know survive every write."""
    assert proj.ao("new", "sleep 600", "--agent", "shell").returncode == 0
    record = _namespace() / "sessions" / "d-1"
    record.write_text(record.read_text() + "port_block=abc\nfrom_a_newer_ao=kept\n")
    r = proj.ao("list", "--json")
    assert r.returncode == 0, r.stderr
    assert [s["id"] for s in json.loads(r.stdout)["data"]] == ["d-1"]
    assert "ao: warning:" in r.stderr and "port_block='abc'" in r.stderr, r.stderr
    assert proj.ao("stop", "d-1").returncode == 0  # writes the record to the archive
    (archived,) = (_namespace() / "archive").glob("d-1_*")
    text = archived.read_text()
    assert "port_block=abc\n" in text and "from_a_newer_ao=kept\n" in text
    assert "status=killed\n" in text
