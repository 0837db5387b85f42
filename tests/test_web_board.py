"""What the page needs from the real server beyond the CLI's documents: the page and its
files (strict headers, no build step), the cards in the event stream (evidence, PR,
issue, usage) while `GET /api/sessions` stays `ao list --json`, and the routes behind its
buttons (`ao why`, the agents, `ao finalize`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ao.api import SessionCard
from tests.sessionkit import Project
from tests.test_web_api import SESSION_KEYS, create
from tests.webkit import Board, messages, until

pytestmark = pytest.mark.tmux

STATIC_TYPES = {
    "/static/app.js": "text/javascript",
    "/static/terminal.js": "text/javascript",
    "/static/vendor/xterm/xterm.mjs": "text/javascript",
    "/static/vendor/xterm/addon-fit.mjs": "text/javascript",
    "/static/app.css": "text/css",
    "/static/vendor/xterm/xterm.css": "text/css",
}


def test_the_page_and_its_files_are_served_with_strict_headers(board: Board) -> None:
    with board.client(token=None) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<script type="module" src="/static/app.js">' in page.text
        for path, kind in STATIC_TYPES.items():
            r = c.get(path)
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
            assert r.headers["cache-control"] == "no-cache"  # an upgrade is seen at once
            assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/static/nope.js").status_code == 404
        assert c.get("/static/%2e%2e/app.py").status_code == 404  # nothing outside it
        assert c.get("/api/health").json()["authenticated"] is False
    with board.client() as c:
        assert c.get("/api/health").json()["authenticated"] is True


def test_the_stream_carries_cards_and_the_list_stays_the_clis(board: Board) -> None:
    create(board, "echo card")
    with board.client() as c:
        (listed,) = c.get("/api/sessions").json()
        assert set(listed) == SESSION_KEYS
        with c.stream("GET", "/api/events/stream") as r:
            (row,) = until(messages(r), "sessions")["data"]
    assert set(row) == SESSION_KEYS | set(SessionCard.EXTRA_KEYS)
    assert {k: row[k] for k in SESSION_KEYS if k not in ("activity", "status", "updated_at")} == {
        k: listed[k] for k in SESSION_KEYS if k not in ("activity", "status", "updated_at")
    }
    assert set(row["evidence"]) == {"source", "detail"} and row["evidence"]["detail"]
    assert (row["pr"], row["issue"], row["info"]) == (None, None, None)  # the shell keeps none


def test_why_agents_and_finalize_behind_the_buttons(
    board: Board, proj: Project, git_repo: Path
) -> None:
    create(board, "echo work")
    with board.client(token=None) as anonymous:
        why = anonymous.get("/api/sessions/d-1/why").json()
        assert why == {**proj.ao_json("why", "d-1"), "evidence": why["evidence"]}  # type: ignore[dict-item]
        assert set(why["evidence"]) == {"source", "detail", "age"}
        agents = anonymous.get("/api/agents").json()
        assert {"shell", "codex"} <= {a["name"] for a in agents}
        assert anonymous.post("/api/sessions/d-1/finalize").status_code == 401

    (worktree,) = [r["worktree"] for r in proj.ao_json("list")]  # type: ignore[union-attr]
    (Path(worktree) / "made.txt").write_text("by the agent\n")
    with board.client() as c:
        done = c.post("/api/sessions/d-1/finalize")
        assert done.status_code == 200, done.text
        assert done.json() == {"session": "d-1", "branch": "ao/d-1", "committed": True,
                               "commits": 1, "pushed": True}  # fmt: skip
        bad = c.post("/api/sessions/d-1/finalize", json={"pr": "yes"})
        assert bad.status_code == 422
    heads = subprocess.run(["git", "ls-remote", "--heads", "origin"], cwd=git_repo,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "refs/heads/ao/d-1" in heads
