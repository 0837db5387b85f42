"""Readers of ``events.jsonl`` skip lines they cannot use (issue 8, item 14), and
``ao events --session`` with an unknown id is exit 4 (item 17)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ao.store import events
from ao.store.paths import ProjectPaths
from ao.store.state import SessionStore, Status
from tests.conftest import RunAo


def good(n: int, session: str | None = "d-1") -> dict[str, object]:
    return {"v": 1, "id": f"id{n}", "ts": f"2026-01-01T00:00:0{n}.000Z", "type": "status",
            "priority": "info", "session": session, "project": "demo",
            "message": f"good {n}", "data": {"n": n}}  # fmt: skip


BAD_LINES = [
    b"",
    b"not json",
    b"[1, 2, 3]",
    b'"a string"',
    b"null",
    b"42",
    json.dumps({k: v for k, v in good(0).items() if k != "type"}).encode(),  # missing field
    json.dumps({**good(0), "message": 5}).encode(),  # wrong types
    json.dumps({**good(0), "ts": None}).encode(),
    json.dumps({**good(0), "session": ["d-1"]}).encode(),
    json.dumps({**good(0), "data": "x"}).encode(),
    json.dumps({**good(0), "priority": True}).encode(),
    b'{"v": 1, "id": "x", "ts": "\xff\xfe", "type": "t"}',  # not UTF-8
    b"\xc3\x28" * 10,
    b"[" * 100_000 + b"]" * 100_000,  # deeper than json's recursion limit
]


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True, timeout=30)
    (tmp_path / "agent-orchestrator.yaml").write_text(
        "defaults: {agent: shell}\nprojects:\n  demo: {path: repo, sessionPrefix: d}\n"
    )
    return ProjectPaths((tmp_path / "agent-orchestrator.yaml").resolve(), "demo")


def write_log(paths: ProjectPaths, torn: bytes = b'{"v": 1, "id": "torn"') -> None:
    lines = [json.dumps(good(1)).encode()]
    lines += BAD_LINES
    lines += [json.dumps(good(2)).encode()]
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.events.write_bytes(b"\n".join(lines) + b"\n" + torn)


def test_read_skips_every_line_it_cannot_use(project: ProjectPaths) -> None:
    write_log(project)
    assert [e["id"] for e in events.read(project.events)] == ["id1", "id2"]


def test_missing_optional_fields_get_their_defaults(project: ProjectPaths) -> None:
    project.root.mkdir(parents=True, exist_ok=True)
    project.events.write_text(json.dumps({"id": "a", "ts": "2026", "type": "t"}) + "\n")
    (event,) = events.read(project.events)
    assert event["message"] == "" and event["data"] == {} and event["session"] is None


def test_ao_events_shows_the_usable_lines(tmp_path: Path, ao: RunAo, project: ProjectPaths) -> None:
    write_log(project)
    shown = ao("events", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[-2:] for line in shown.stdout.splitlines()] == [
        ["good", "1"], ["good", "2"]]  # fmt: skip
    as_json = ao("events", "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert [json.loads(x)["id"] for x in as_json.stdout.splitlines()] == ["id1", "id2"]
    only = ao("events", "--session", "d-1", "--json", cwd=tmp_path)
    assert only.returncode == 0 and len(only.stdout.splitlines()) == 2


def test_ao_events_follow_skips_bad_lines_as_they_come(
    tmp_path: Path, project: ProjectPaths
) -> None:
    write_log(project, torn=b"")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ao", "events", "--follow", "--json"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ),
        start_new_session=True,
    )  # fmt: skip
    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert json.loads(lines.get(timeout=30))["id"] == "id1"
        assert json.loads(lines.get(timeout=30))["id"] == "id2"
        with project.events.open("ab") as fh:
            fh.write(b"\n".join(BAD_LINES) + b"\n" + json.dumps(good(3)).encode() + b"\n")
        assert json.loads(lines.get(timeout=30))["id"] == "id3"
        assert proc.poll() is None  # still following
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


def test_events_of_an_unknown_session_is_not_found(
    tmp_path: Path, ao: RunAo, project: ProjectPaths
) -> None:
    write_log(project)
    SessionStore(project).reserve("d", status=Status.WORKING)  # d-1, no events of its own
    result = ao("events", "--session", "d-9", cwd=tmp_path)
    assert result.returncode == 4
    (line,) = result.stderr.splitlines()
    assert "no session 'd-9'" in line and "ao list --all" in line and "d-1" in line
    assert result.stdout == ""


def test_events_of_a_known_session_without_events_is_empty(
    tmp_path: Path, ao: RunAo, project: ProjectPaths
) -> None:
    store = SessionStore(project)
    live = store.reserve("d", status=Status.WORKING)
    gone = store.reserve("d", status=Status.WORKING)
    store.archive(gone)
    for session in (live, gone):
        result = ao("events", "--session", session, cwd=tmp_path)
        assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_events_of_a_session_only_the_log_knows_are_shown(
    tmp_path: Path, ao: RunAo, project: ProjectPaths
) -> None:
    """A session whose records are gone (gc'd archives) still has its history."""
    write_log(project)
    result = ao("events", "--session", "d-1", "--json", cwd=tmp_path)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2
