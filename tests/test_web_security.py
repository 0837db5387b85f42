"""Who may call the real server: the token (none, wrong, as a cookie), the `Host` and
`Origin` checks (DNS rebinding, cross-site requests), non-loopback binds, and the token
kept out of responses and logs."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tests.sessionkit import Project
from tests.webkit import Board, start_board, token_file

pytestmark = pytest.mark.tmux

CREATE = {"projectId": "demo", "task": "true"}


def refusal(r: httpx.Response) -> tuple[int, int, str]:
    error = r.json()["error"]
    return r.status_code, error["code"], error["message"]


def test_changing_state_needs_the_token_and_reading_does_not(board: Board) -> None:
    with board.client(token=None) as anonymous:
        assert anonymous.get("/api/sessions").status_code == 200
        with anonymous.stream("GET", "/api/events/stream") as stream:
            assert stream.status_code == 200
        for method, path, body in (
            ("POST", "/api/sessions", CREATE),
            ("POST", "/api/spawn", {"projectId": "demo", "prompt": "true"}),
            ("POST", "/api/sessions/d-1/message", {"content": "hi"}),
            ("POST", "/api/sessions/d-1/restore", None),
            ("DELETE", "/api/sessions/d-1", None),
            ("POST", "/api/sessions/d-1/kill", None),
        ):
            r = anonymous.request(method, path, json=body)
            assert refusal(r) == (401, 10, "this request needs the dashboard token"), path
            assert r.headers["www-authenticate"] == "Bearer"
    with board.client(token="not-the-token") as wrong:
        assert refusal(wrong.post("/api/sessions", json=CREATE))[:2] == (401, 10)
        assert refusal(wrong.get("/api/sessions")) == (401, 10, "wrong dashboard token")
    with board.client(headers={"Authorization": "Basic " + board.token}, token=None) as basic:
        assert basic.post("/api/sessions", json=CREATE).status_code == 401
    with board.client() as c:
        assert c.post("/api/sessions", json=CREATE).status_code == 201


def test_host_and_origin_are_checked(board: Board) -> None:
    port = board.port
    with board.client() as c:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
            assert c.get("/api/health", headers={"Host": host}).status_code == 200, host
        # DNS rebinding: another name that resolves here, or another port
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", ""):
            r = c.get("/api/sessions", headers={"Host": host})
            assert refusal(r)[:2] == (403, 10), host
        assert refusal(c.post("/api/sessions", json=CREATE, headers={"Host": "a.test"}))[0] == 403
        # cross-site requests are refused even with the token; the server's own origin passes
        for origin in ("http://evil.example", "null", f"http://localhost:{port}", "https://x"):
            r = c.post("/api/sessions/d-9/message", json={"content": "x"},
                       headers={"Origin": origin})  # fmt: skip
            assert refusal(r) == (403, 10, "cross-site requests are refused"), origin
        own = {"Origin": f"http://127.0.0.1:{port}"}
        r = c.post("/api/sessions/d-9/message", json={"content": "x"}, headers=own)
        assert r.status_code == 404  # past the checks: the session does not exist
        r = c.get("/api/sessions", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        assert "access-control-allow-origin" not in r.headers  # no CORS, ever
        r = c.options("/api/sessions", headers={"Origin": "http://evil.example",
                                                 "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_the_url_token_becomes_a_strict_httponly_cookie(board: Board) -> None:
    with httpx.Client(base_url=board.url) as browser:
        r = browser.get("/", params={"token": board.token})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"ao_token={board.token};")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert browser.post("/api/sessions", json=CREATE).status_code == 201  # the cookie
        assert browser.get("/").status_code == 200
    with httpx.Client(base_url=board.url) as stranger:
        r = stranger.get("/", params={"token": "guess"})
        assert refusal(r) == (401, 10, "wrong dashboard token")
        assert "set-cookie" not in r.headers
        stranger.cookies.set("ao_token", "guess")
        assert stranger.post("/api/sessions", json=CREATE).status_code == 401


def test_the_token_file_is_private_and_never_echoed_or_logged(
    board: Board, isolated_env: Path
) -> None:
    path = token_file(isolated_env)
    assert path.read_text().strip() == board.token and len(board.token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with board.client(token=None) as c:
        answers = [
            c.get("/", params={"token": board.token}, follow_redirects=False).text,
            c.get("/", params={"token": board.token + "x"}).text,
            c.post("/api/sessions", json=CREATE).text,
            c.get("/api/sessions/NOT_AN_ID/status").text,
            c.get("/api/openapi.json").text,
        ]
    assert not any(board.token in text for text in answers)
    log = board.stop()
    assert board.token not in log


def test_a_non_loopback_bind_needs_the_token_for_everything(proj: Project) -> None:
    server = start_board(proj, "--host", "0.0.0.0")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with server.client(token=None) as anonymous:
            r = anonymous.get("/api/sessions")
            assert refusal(r) == (401, 10, "every request to a non-loopback bind needs the "
                                           "dashboard token")  # fmt: skip
            assert anonymous.get("/api/health").status_code == 401
        with server.client() as c:
            assert c.get("/api/sessions").json() == []
            # bound to every address, it answers to any name it is reached by
            assert (
                c.get("/api/health", headers={"Host": f"box.lan:{server.port}"}).status_code == 200
            )
    finally:
        server.stop()
