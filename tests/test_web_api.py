"""The REST API against the real server (`ao dashboard` on 127.0.0.1), real tmux sessions of
the shell agent and real git: every route, its errors, the event stream's resume, `ao api`,
and the README's curl examples."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, RunAo
from tests.sessionkit import Project, wait_for
from tests.webkit import Board, free_port, messages, until

pytestmark = pytest.mark.tmux

SESSION_KEYS = {
    "id", "project", "agent", "runtime", "branch", "worktree", "status", "activity",
    "created_at", "updated_at", "tmux", "task", "error", "role",
}  # fmt: skip


def create(board: Board, task: str = "echo hello-api", **extra: object) -> dict[str, object]:
    with board.client() as c:
        r = c.post("/api/sessions", json={"projectId": "demo", "task": task, **extra})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert r.headers["location"] == f"/api/sessions/{doc['id']}"
    return doc  # type: ignore[no-any-return]


def test_every_session_route_renders_the_clis_documents(board: Board, proj: Project) -> None:
    created = create(board)
    assert set(created) == SESSION_KEYS | {"delivery"} and created["id"] == "d-1"
    with board.client(token=None) as c:  # reads need no token on loopback
        listed = c.get("/api/sessions").json()
        assert [row["id"] for row in listed] == ["d-1"] and set(listed[0]) == SESSION_KEYS
        assert c.get("/api/sessions", params={"project": "demo"}).json() == listed
        detail = c.get("/api/sessions/d-1/status").json()
        assert set(detail) == set(proj.ao_json("status", "d-1"))  # type: ignore[arg-type]
        assert set(c.get("/api/sessions/d-1").json()) == set(detail)
        assert [p["id"] for p in c.get("/api/projects").json()] == ["demo"]
        wait_for(lambda: "hello-api" in c.get("/api/sessions/d-1/logs").text.split("\n", 1)[-1])
        logs = c.get("/api/sessions/d-1/logs", params={"lines": 3})
        assert logs.headers["content-type"].startswith("text/plain")
        assert c.get("/api/health").json()["status"] == "ok"
        assert c.get("/api/openapi.json").json()["info"]["title"] == "ao"

    with board.client() as c:
        sent = c.post("/api/sessions/d-1/message", json={"content": "echo second-api"})
        assert sent.status_code == 200 and set(sent.json()) == {"session", "status", "detail"}
        assert sent.json()["status"] in ("delivered", "queued", "unconfirmed")
        keys = c.post("/api/sessions/d-1/message", json={"keys": ["C-l"]}).json()
        assert keys["session"] == "d-1" and keys["keys"] == ["C-l"]
        same = c.post("/api/sessions/d-1/send", json={"keys": ["End"]})  # the reference's name
        assert same.status_code == 200 and same.json()["keys"] == ["End"]
        wait_for(lambda: c.get("/api/sessions/d-1/status").json()["activity"] == "ready")
        calm = c.post("/api/sessions/d-1/message", json={"interrupt": True}).json()
        assert calm == {"session": "d-1", "interrupted": False, "detail": calm["detail"]}

        stopped = c.delete("/api/sessions/d-1", params={"force": "true"})
        assert stopped.status_code == 200 and stopped.json()["id"] == "d-1"
        assert set(stopped.json()) == {"id", "worktree", "worktree_removed", "snapshot",
                                       "kept_reason", "archived", "saved"}  # fmt: skip
        assert c.get("/api/sessions").json() == []
        archived = c.get("/api/sessions", params={"all": "true"}).json()
        assert [(r["id"], r["status"]) for r in archived] == [("d-1", "killed")]
        assert "archived_at" in archived[0]

        restored = c.post("/api/sessions/d-1/restore")
        assert restored.status_code == 200 and set(restored.json()) == SESSION_KEYS
        again = c.post("/api/sessions/d-1/restore", json={"resend": False})
        assert again.status_code == 409 and again.json()["error"]["code"] == 5  # it is live
        assert c.post("/api/sessions/d-1/kill").json()["id"] == "d-1"  # the reference's name

        spawned = c.post("/api/spawn", json={"projectId": "demo", "prompt": "true"})
        assert spawned.status_code == 201 and spawned.json()["id"] == "d-2"
        titled = c.post("/api/sessions", json={"projectId": "demo", "title": "true"})
        assert titled.status_code == 201 and titled.json()["task"] == "true"
    # the CLI sees the same fleet
    assert sorted(r["id"] for r in proj.ao_json("list")) == ["d-2", "d-3"]  # type: ignore[union-attr]


def error_of(response: object) -> tuple[int, int]:
    r = response
    doc = r.json()  # type: ignore[attr-defined]
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message", "hint"}, doc
    return r.status_code, doc["error"]["code"]  # type: ignore[attr-defined]


def test_errors_are_documents_with_the_clis_exit_codes(board: Board, proj: Project) -> None:
    create(board)
    with board.client() as c:
        assert error_of(c.get("/api/sessions/d-9/status")) == (404, 4)
        assert error_of(c.get("/api/sessions/NOT_AN_ID/status")) == (400, 2)
        assert error_of(c.get("/api/sessions/d-9/logs")) == (404, 4)
        assert error_of(c.delete("/api/sessions/d-9")) == (404, 4)
        assert error_of(c.post("/api/sessions/d-9/message", json={"content": "x"})) == (404, 4)
        assert error_of(c.post("/api/sessions/d-9/restore")) == (404, 4)
        assert error_of(c.get("/api/sessions", params={"project": "nope"})) == (404, 4)
        nowhere = {"projectId": "nope", "task": "true"}
        assert error_of(c.post("/api/sessions", json=nowhere)) == (404, 4)
        # bodies: not JSON, not an object, unknown keys, wrong types, two sources, none
        assert error_of(c.post("/api/sessions", content=b"{bad")) == (400, 2)
        assert error_of(c.post("/api/sessions", content=b"[1]")) == (422, 2)
        assert error_of(c.post("/api/sessions", json={"projectId": "demo", "task": "x",
                                                      "tsak": "y"})) == (422, 2)  # fmt: skip
        assert error_of(c.post("/api/sessions", json={"projectId": "demo", "task": 7})) == (422, 2)
        both = {"projectId": "demo", "task": "x", "title": "y"}  # a task with an issue is fine
        assert error_of(c.post("/api/sessions", json=both)) == (422, 2)
        assert error_of(c.post("/api/sessions", json={"projectId": "demo"})) == (422, 2)
        assert error_of(c.post("/api/sessions")) == (422, 2)
        message = "/api/sessions/d-1/message"
        assert error_of(c.post(message, json={"content": "x", "keys": ["Enter"]})) == (422, 2)
        assert error_of(c.post(message, json={})) == (422, 2)
        assert error_of(c.post(message, json={"keys": ["Enter; rm -rf /"]})) == (400, 2)
        assert error_of(c.post(message, json={"content": " "})) == (400, 2)  # empty message
        detail = c.post(message, json={"content": "x", "color": "red"}).json()["error"]
        assert "color" in detail["message"]  # says which key
        # a body past the limit is refused as it arrives
        huge = b'{"content": "' + b"x" * (9 * 1024 * 1024) + b'"}'
        assert error_of(c.post(message, content=huge)) == (413, 2)
        chunks = iter([huge[: 1 << 20]] * 9)  # no Content-Length: counted as it arrives
        assert error_of(c.post(message, content=chunks)) == (413, 2)
        # routes, methods, cursors
        assert error_of(c.get("/api/nope")) == (404, 4)
        assert error_of(c.put("/api/sessions")) == (405, 2)
        assert error_of(c.get("/api/events", params={"since": "not a cursor"})) == (400, 2)
        stream = c.get("/api/events/stream", headers={"Last-Event-ID": "%%"})
        assert error_of(stream) == (400, 2)
        assert error_of(c.get("/api/sessions/d-1/logs", params={"lines": 0})) == (422, 2)
    # the same failures exit the CLI with the same codes
    assert proj.ao("status", "d-9").returncode == 4
    assert proj.ao("status", "NOT_AN_ID").returncode == 2


def test_task_routes_render_the_clis_documents(board: Board, proj: Project) -> None:
    with board.client() as c:
        body = {"projectId": "demo", "goal": "echo ok > done.txt", "verify": ["test -f done.txt"]}
        r = c.post("/api/tasks", json=body)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["id"] == "task-1" and created["verify"] == ["test -f done.txt"]
        assert r.headers["location"] == "/api/tasks/task-1?project=demo"
        assert created == proj.ao_json("task", "show", "task-1")  # the CLI's document
    done = proj.ao("task", "wait", "task-1", "--timeout", "60", timeout=90)  # runs passes
    assert done.returncode == 0, done.stdout + done.stderr
    with board.client(token=None) as c:  # reads need no token on loopback
        shown = c.get("/api/tasks/task-1").json()
        assert shown["state"] == "completed" and shown == proj.ao_json("task", "show", "task-1")
        assert c.get("/api/tasks").json() == [shown]
        assert c.get("/api/tasks", params={"open": "true"}).json() == []
        assert c.get("/api/tasks", params={"project": "demo"}).json() == [shown]
        assert c.post("/api/tasks", json=body).status_code == 401  # changes need it
    with board.client() as c:
        second = c.post("/api/tasks", json={"projectId": "demo", "goal": "sleep 30"}).json()
        assert [t["id"] for t in c.get("/api/tasks", params={"open": "true"}).json()] == [
            second["id"]
        ]
        cancelled = c.post(f"/api/tasks/{second['id']}/cancel", json={"keepSession": True})
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert proj.ao_json("status", second["session"])["status"] != "killed"  # type: ignore[index]
        assert c.post(f"/api/tasks/{second['id']}/cancel").json()["state"] == "cancelled"
        # errors: the CLI's codes
        assert error_of(c.get("/api/tasks/task-9")) == (404, 4)
        assert error_of(c.post("/api/tasks", json={"projectId": "nope", "goal": "x"})) == (404, 4)
        assert error_of(c.post("/api/tasks", json={"projectId": "demo"})) == (422, 2)
        assert error_of(c.post("/api/tasks", json={**body, "verfy": ["x"]})) == (422, 2)
        assert error_of(c.post("/api/tasks", json={**body, "verify": "test -f x"})) == (422, 2)


def test_events_page_and_resume_by_cursor(board: Board) -> None:
    create(board)
    with board.client() as c:
        page = c.get("/api/events").json()
        assert set(page) == {"events", "cursor"}
        assert "session.started" in [e["type"] for e in page["events"]]
        c.post("/api/sessions/d-1/message", json={"keys": ["C-l"]})
        later = c.get("/api/events", params={"since": page["cursor"]}).json()
        assert [e["type"] for e in later["events"]] == ["message.keys"]
        assert c.get("/api/events", params={"since": later["cursor"]}).json()["events"] == []
        assert len(c.get("/api/events", params={"limit": 1}).json()["events"]) == 1
        only = c.get("/api/events", params={"session": "d-1", "limit": 100}).json()["events"]
        assert {e["session"] for e in only} == {"d-1"}


def test_the_event_stream_resumes_after_a_disconnect(board: Board) -> None:
    create(board)
    with board.client() as c:
        with c.stream("GET", "/api/events/stream") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            stream = messages(r)
            opened = until(stream, "open")
            assert opened["data"] == {"cursor": opened["id"], "resumed": False}
            sessions = until(stream, "sessions")
            assert [row["id"] for row in sessions["data"]] == ["d-1"]
            c.post("/api/sessions/d-1/message", json={"keys": ["C-l"]})
            seen = until(stream, "event")
            assert seen["data"]["type"] == "message.keys" and seen["data"]["data"]["keys"] == [
                "C-l"
            ]
            last_id = seen["id"]
        # disconnected: two more events happen
        c.post("/api/sessions/d-1/message", json={"keys": ["End"]})
        c.post("/api/sessions/d-1/message", json={"keys": ["Home"]})
        resume = {"Last-Event-ID": last_id}
        with c.stream("GET", "/api/events/stream", headers=resume) as r:
            stream = messages(r)
            opened = until(stream, "open")
            assert opened["data"] == {"cursor": last_id, "resumed": True}
            missed = [until(stream, "event"), until(stream, "event")]
            assert [m["data"]["data"]["keys"] for m in missed] == [["End"], ["Home"]]
            assert "id" not in missed[0] and missed[1]["id"] != last_id
            # nothing else was missed: the next event is a new one
            c.post("/api/sessions/d-1/message", json={"keys": ["C-e"]})
            assert until(stream, "event")["data"]["data"]["keys"] == ["C-e"]
        # `?since=` resumes the same way (for clients that cannot set headers)
        with c.stream("GET", "/api/events/stream", params={"since": last_id}) as r:
            stream = messages(r)
            assert until(stream, "open")["data"]["resumed"] is True
            assert until(stream, "event")["data"]["data"]["keys"] == ["End"]


def test_ao_api_calls_the_running_server(board: Board, proj: Project) -> None:
    body = json.dumps({"projectId": "demo", "task": "echo via-ao-api"})
    r = proj.ao("api", "POST", "/sessions", "-d", body)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == "d-1"
    r = proj.ao("api", "post", "/api/sessions/d-1/message", "-d", "-", input='{"keys": ["C-l"]}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["keys"] == ["C-l"]
    listed = json.loads(proj.ao("api", "GET", "/sessions").stdout)
    assert [row["id"] for row in listed] == ["d-1"]
    r = proj.ao("api", "GET", "/sessions/d-1/logs")
    assert r.returncode == 0 and not r.stdout.startswith(("{", "[")), r.stdout  # text as is
    # failures exit with the code the server gave, one line on stderr
    r = proj.ao("api", "GET", "/sessions/d-9/status")
    assert r.returncode == 4 and r.stderr.startswith("ao: error: no session 'd-9'"), r.stderr
    r = proj.ao("api", "POST", "/sessions", "-d", "{bad")
    assert r.returncode == 2 and "-d is not JSON" in r.stderr
    r = proj.ao("api", "GET", "/sessions", "--url", "http://127.0.0.1:9")
    assert r.returncode == 4 and "no dashboard answers" in r.stderr
    board.stop()
    r = proj.ao("api", "GET", "/sessions")
    assert r.returncode == 4 and "no dashboard serves this config" in r.stderr


def test_one_server_per_config_and_a_busy_port_names_the_key(board: Board, proj: Project) -> None:
    # a second `ao dashboard` for the config adopts the running one
    r = proj.ao("dashboard", "--port", "0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{board.url}/?token={board.token}"
    assert "already serves this config" in r.stderr
    board.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = proj.ao("dashboard", "--port", str(port))
    assert r.returncode == 5, r.stderr
    assert f"port {port} on 127.0.0.1 is in use" in r.stderr and "`port:`" in r.stderr


def readme_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Dashboard and API", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_curl_examples_work(board: Board, proj: Project, isolated_env: Path) -> None:
    commands = readme_commands()
    assert any(c.startswith("curl") for c in commands) and commands[0].startswith("ao dashboard")
    env = {**os.environ, "HOME": str(isolated_env)}
    preamble = f'ao() {{ {shlex.quote(sys.executable)} -m ao "$@"; }}\n'
    for command in commands[1:]:
        if re.match(r"^[A-Z_]+=", command):  # a variable the next commands use
            preamble += command + "\n"
            continue
        command = command.replace("localhost:3000", f"127.0.0.1:{board.port}")
        command = command.replace("my-app", "demo").replace("ma-1", "d-1")
        streams = " -N " in command
        if streams:
            command = command.replace("curl ", "curl --max-time 3 ", 1)
        r = subprocess.run(
            ["bash", "-c", preamble + command], cwd=proj.repo.parent, env=env, capture_output=True,
            text=True, timeout=90,
        )  # fmt: skip
        if streams:
            assert r.returncode == 28 and "event: open" in r.stdout, (command, r.stdout)
            continue
        assert r.returncode == 0, (command, r.stderr)
        failed = re.search(r'"error":\s*\{', r.stdout)  # an error document, not `"error": null`
        assert not failed and r.stdout.strip(), (command, r.stdout)
    assert re.search(r"\bd-1\b", proj.ao("list").stdout) is None  # the last example stops it


def test_ao_start_runs_the_dashboard_beside_the_watcher(proj: Project, ao: RunAo) -> None:
    port = free_port()
    proj.configure(top={"port": port})
    r = ao("start", "--json", cwd=proj.repo)
    assert r.returncode == 0, r.stderr
    started = json.loads(r.stdout)["data"]
    assert started["watcher"]["state"] == "started"
    url = f"http://127.0.0.1:{port}"
    assert started["dashboard"]["state"] == "started" and started["dashboard"]["url"] == url
    assert httpx.get(f"{url}/api/health").json()["status"] == "ok"
    # adopted, never a second one
    again = json.loads(ao("start", "--json", cwd=proj.repo).stdout)["data"]
    assert again["dashboard"] == {**started["dashboard"], "state": "running"}
    human = ao("start", cwd=proj.repo).stdout
    assert f"dashboard: running at {url}" in human and "token" not in human
    # it lives beside the watcher: when the watcher ends, so does the dashboard
    proj.server.kill_session(started["watcher"]["detail"])

    def gone() -> bool:
        try:
            httpx.get(f"{url}/api/health", timeout=1)
        except httpx.TransportError:
            return True
        return False

    wait_for(gone, timeout=30, what="the dashboard to end with its watcher")
    proj.configure(top={"port": port, "dashboard": {"enabled": False}})
    off = json.loads(ao("start", "--json", cwd=proj.repo).stdout)["data"]
    assert off["dashboard"] == {"state": "skipped", "detail": "dashboard.enabled is false",
                                "url": None}  # fmt: skip
    quiet = json.loads(ao("start", "--json", "--no-dashboard", cwd=proj.repo).stdout)["data"]
    assert quiet["dashboard"]["detail"] == "--no-dashboard"
    # a busy port is reported (the project is set up all the same), naming the key
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proj.configure(top={"port": busy})
        r = ao("start", "--json", cwd=proj.repo)
    assert r.returncode == 0, r.stderr
    refused = json.loads(r.stdout)["data"]["dashboard"]
    assert refused["state"] == "not started" and refused["url"] is None
    assert f"port {busy} on 127.0.0.1 is in use" in refused["detail"]
    assert "`port:`" in refused["detail"]
