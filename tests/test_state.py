"""Session records on disk: reserving ids."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ao.sdk.errors import ConflictError
from ao.store import kvfile
from ao.store.paths import ProjectPaths
from ao.store.state import SessionStore


def test_reserve_never_shows_a_partial_record(tmp_path: Path) -> None:
    """A reader racing `reserve` sees no record or the whole record, never part of one."""
    store = SessionStore(ProjectPaths(tmp_path / "agent-orchestrator.yaml", "demo"))
    task = "x" * 1_000_000
    partial: list[int] = []
    whole: set[str] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            for path in store.paths.sessions.glob("s-*"):
                if path.name in whole:
                    continue
                data = kvfile.loads(path.read_text(encoding="utf-8"))
                if data.get("end") == "1":
                    whole.add(path.name)
                else:
                    partial.append(len(data.get("task", "")))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(8):
            store.reserve("s", task=task, extra={"end": "1"})
    finally:
        done.set()
        thread.join()
    assert partial == []
    assert [s.id for s in store.list()] == [f"s-{n}" for n in range(1, 9)]
    assert sorted(p.name for p in store.paths.sessions.iterdir()) == sorted(
        f"s-{n}" for n in range(1, 9)
    )  # no temporary files left behind


def test_reserve_refuses_an_existing_name(tmp_path: Path) -> None:
    store = SessionStore(ProjectPaths(tmp_path / "agent-orchestrator.yaml", "demo"))
    assert store.reserve("s", name="fix", task="one") == "fix"
    with pytest.raises(ConflictError, match="already exists"):
        store.reserve("s", name="fix", task="two")
    assert store.read("fix").task == "one"
