"""`ao mcp` over the real protocol: the SDK's own stdio client and `ClientSession` talk to
`python -m ao mcp` in a subprocess, on a configured repo whose sessions run on the test's
private tmux server. Every effect a tool claims is checked from outside (the CLI, git,
tmux, the agent's inbox), not from the tool's own answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
import yaml
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent, TextResourceContents

from tests.conftest import git
from tests.sessionkit import Project, wait_for

pytestmark = [pytest.mark.tmux, pytest.mark.timeout(180)]

ALIASES = {
    "create_task": ["CREATE_TASK", "START_CODING_TASK"],
    "spawn_agent": ["SPAWN_AGENT", "SPAWN_CODING_AGENT"],
    "send_to_agent": ["SEND_TO_AGENT", "SEND_TO_CODING_AGENT"],
    "list_agents": ["LIST_AGENTS", "LIST_CODING_AGENTS"],
    "task_status": ["TASK_STATUS"],
    "cancel_task": ["CANCEL_TASK"],
    "stop_agent": ["STOP_AGENT", "STOP_CODING_AGENT"],
    "provision_workspace": ["PROVISION_WORKSPACE"],
    "finalize_workspace": ["FINALIZE_WORKSPACE"],
}
WORKER = Path(__file__).parent / "fixtures" / "worker.py"
SCENARIO_TIMEOUT = 150  # seconds for one test's whole conversation (a busy 2-core machine)
Scenario = Callable[[ClientSession], Awaitable[None]]


def run(
    proj: Project,
    scenario: Scenario,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Start `ao mcp` (from the config's directory unless ``cwd``) with the test's
    environment plus ``env``, connect, initialize, and run ``scenario`` on the session."""
    errlog = proj.repo.parent / "mcp-stderr.log"
    base = {k: v for k, v in os.environ.items()
            if k not in ("AO_SESSION_ID", "AO_PROJECT", "AO_CALLER_TYPE")}  # fmt: skip
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "ao", "mcp"], env={**base, **(env or {})},
        cwd=cwd or proj.repo.parent,
    )  # fmt: skip

    async def main() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT), errlog.open("w") as err:
            async with (
                stdio_client(params, errlog=err) as (read, write),
                ClientSession(read, write, read_timeout_seconds=120) as session,
            ):
                init = await session.initialize()
                assert init.server_info.name == "ao"
                await scenario(session)

    try:
        anyio.run(main)
    except BaseException as exc:
        sys.stderr.write(f"--- ao mcp stderr ---\n{errlog.read_text()}\n")
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]  # the task groups' wrapping hides the failed assertion
        raise exc from None


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def ok(result: CallToolResult) -> dict[str, t.Any]:
    """A successful tool result's JSON; its text content says the same."""
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert isinstance(data, dict)
    assert json.loads(text_of(result)) == data
    return data


def failed(result: CallToolResult) -> str:
    assert result.is_error, result
    return text_of(result)


async def call(client: ClientSession, tool: str, /, **arguments: t.Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


async def read(session: ClientSession, uri: str) -> str:
    result = await session.read_resource(uri)
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    return content.text


def add_project(proj: Project, name: str) -> Path:
    """A second repository next to the config, added to it as project ``name``."""
    repo = proj.repo.parent / name
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text(f"# {name}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    config_path = proj.repo.parent / "agent-orchestrator.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["projects"][name] = {"path": str(repo), "sessionPrefix": name[:2]}
    config_path.write_text(yaml.safe_dump(config))
    return repo


def listed(proj: Project, *args: str) -> dict[str, dict[str, t.Any]]:
    rows = proj.ao_json("list", *args)
    assert isinstance(rows, list)
    return {row["id"]: row for row in rows}


def test_tools_resources_and_their_schemas(proj: Project) -> None:
    async def scenario(s: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await s.list_tools()).tools}
        assert set(tools) == set(ALIASES)
        for name, aliases in ALIASES.items():
            tool = tools[name]
            assert tool.meta == {"aliases": aliases}
            assert tool.description is not None
            assert tool.description.startswith(aliases[0])
            assert all(alias in tool.description for alias in aliases), tool.description
            assert tool.input_schema["type"] == "object"
        create = tools["create_task"].input_schema
        assert create["required"] == ["goal"]
        assert set(create["properties"]) == {"goal", "project", "agent", "verify",
                                             "from_session", "base"}  # fmt: skip
        verify = create["properties"]["verify"]["anyOf"]
        assert {"type": "array", "items": {"type": "string"}} in verify
        send = tools["send_to_agent"].input_schema
        assert send["required"] == ["session"]
        assert set(send["properties"]) == {"session", "text", "keys"}
        stop = tools["stop_agent"].input_schema["properties"]["force"]
        assert (stop["type"], stop["default"]) == ("boolean", False)
        assert "required" not in tools["list_agents"].input_schema
        assert tools["finalize_workspace"].input_schema["required"] == ["session"]
        assert set(tools["provision_workspace"].input_schema["properties"]) == {
            "repo", "from_session", "name"
        }  # fmt: skip
        assert tools["list_agents"].annotations is not None
        assert tools["list_agents"].annotations.read_only_hint is True
        assert tools["stop_agent"].annotations is not None
        assert tools["stop_agent"].annotations.destructive_hint is True
        # the workspace is made with its session: the description says so
        assert "create_task" in (tools["provision_workspace"].description or "")

        resources = [str(r.uri) for r in (await s.list_resources()).resources]
        assert resources == ["ao://events"]
        templates = {r.uri_template for r in (await s.list_resource_templates()).resource_templates}
        assert templates == {"ao://sessions/{session}/status", "ao://sessions/{session}/logs"}

        empty = ok(await call(s, "list_agents"))
        assert empty == {"sessions": [], "tasks_without_session": []}

    run(proj, scenario)


def test_spawn_send_list_read_and_stop_a_real_session(proj: Project) -> None:
    proj.use_receiver()

    async def scenario(s: ClientSession) -> None:
        started = ok(await call(s, "spawn_agent", task="first task"))
        assert started["session"] == "d-1" and started["project"] == "demo"
        assert started["branch"] == "ao/d-1"
        assert started["delivery"] in ("delivered", "unconfirmed")
        row = listed(proj)["d-1"]
        assert row["worktree"] == started["worktree"] and Path(row["worktree"]).is_dir()
        assert row["tmux"] in proj.tmux_names()  # it really runs on the test's tmux server
        wait_for(lambda: proj.received() == ["first task"], what="the task")

        sent = ok(await call(s, "send_to_agent", session="d-1", text="second message"))
        assert sent == {**sent, "session": "d-1", "status": "delivered"}
        assert proj.received()[-1] == "second message"
        pressed = ok(await call(s, "send_to_agent", session="d-1", keys=["h", "i", "Enter"]))
        assert pressed["status"] == "pressed"
        wait_for(lambda: proj.received()[-1] == "hi", what="the typed keys")

        status = json.loads(await read(s, "ao://sessions/d-1/status"))
        cli = proj.ao_json("status", "d-1")
        assert isinstance(cli, dict)
        for key in ("id", "project", "branch", "worktree", "tmux", "pane"):
            assert status[key] == cli[key], key
        with anyio.fail_after(15):  # the receiver's answer to "hi", on its screen
            while "got 2 chars" not in await read(s, "ao://sessions/d-1/logs"):
                await anyio.sleep(0.2)
        agents = ok(await call(s, "list_agents"))
        now = listed(proj)["d-1"]
        (mine,) = agents["sessions"]
        assert mine == {"session": "d-1", "project": "demo", "agent": "shell", "role": None,
                        "status": now["status"], "activity": now["activity"],
                        "branch": "ao/d-1", "task": None}  # fmt: skip
        assert agents["tasks_without_session"] == []

        events = json.loads(await read(s, "ao://events"))
        mine_events = [e["type"] for e in events["events"] if e["session"] == "d-1"]
        assert "session.started" in mine_events and "message.sent" in mine_events

        stopped = ok(await call(s, "stop_agent", session="d-1"))
        assert stopped["id"] == "d-1" and stopped["worktree_removed"] is True
        assert stopped["archived"]
        assert "d-1" not in listed(proj)
        assert listed(proj, "--all")["d-1"]["archived_at"]
        assert row["tmux"] not in proj.tmux_names()
        assert not Path(row["worktree"]).exists()
        assert ok(await call(s, "list_agents"))["sessions"] == []
        assert "got 2 chars" in await read(s, "ao://sessions/d-1/logs")  # the saved screen

    run(proj, scenario)


def test_create_task_reports_to_the_session_that_runs_the_server(proj: Project) -> None:
    """Inside session d-1 (AO_SESSION_ID, AO_PROJECT in the server's environment) a task
    names d-1 as its requester and lands in d-1's project, although the config has two."""
    proj.use_receiver()
    add_project(proj, "side")
    r = proj.ao("new", "BOSS: I delegate", "--project", "demo", "--json")
    assert r.returncode == 0, r.stderr
    boss = json.loads(r.stdout)["data"]["id"]
    assert boss == "d-1"

    async def scenario(s: ClientSession) -> None:
        created = ok(await call(s, "create_task", goal="WORK: do x",
                                verify=["python -m pytest -q"]))  # fmt: skip
        assert created == {
            "task": "task-1", "session": "d-2", "project": "demo", "state": created["state"],
            "branch": "ao/d-2", "agent": "shell", "requested_by": "d-1",
        }  # fmt: skip
        assert created["state"] in ("running", "pending")
        shown = proj.ao_json("task", "show", "task-1", "--project", "demo")
        assert isinstance(shown, dict)
        assert (shown["session"], shown["parent"], shown["goal"]) == ("d-2", "d-1", "WORK: do x")
        assert shown["verify"] == ["python -m pytest -q"]
        assert "d-2" in listed(proj)
        wait_for(lambda: "WORK: do x" in proj.received(), what="the worker's task")

        status = ok(await call(s, "task_status", task="task-1", project="demo"))
        assert status == shown

        agents = ok(await call(s, "list_agents"))
        rows = {row["session"]: row for row in agents["sessions"]}
        assert set(rows) == {"d-1", "d-2"}
        assert rows["d-1"]["task"] is None
        assert rows["d-2"]["task"] == {"id": "task-1", "state": shown["state"], "attempts": 0,
                                       "max_attempts": 3, "question": None}  # fmt: skip

        # another project's task, whose session then goes: listed as an open task
        other = ok(await call(s, "create_task", goal="SIDE: do y", project="side"))
        assert other["project"] == "side" and other["requested_by"] == "d-1"
        side = proj.ao_json("task", "show", other["task"], "--project", "side")
        assert isinstance(side, dict) and side["parent"] == "d-1"
        ok(await call(s, "stop_agent", session=other["session"]))
        agents = ok(await call(s, "list_agents"))
        assert {row["session"] for row in agents["sessions"]} == {"d-1", "d-2"}
        (orphan,) = agents["tasks_without_session"]
        assert (orphan["id"], orphan["session"]) == (other["task"], other["session"])

        cancelled = ok(await call(s, "cancel_task", task="task-1", project="demo"))
        assert cancelled["state"] == "cancelled"
        assert "d-2" not in listed(proj)  # its session was stopped with it
        shown = proj.ao_json("task", "show", "task-1", "--project", "demo")
        assert isinstance(shown, dict) and shown["state"] == "cancelled"

    run(proj, scenario, env={"AO_SESSION_ID": boss, "AO_PROJECT": "demo"})


def test_a_waiting_agent_and_its_task_show_the_question(proj: Project) -> None:
    """A scripted worker asks a [y/n] question: list_agents shows it for the session (live
    activity) and for its task (after a lifecycle pass); send_to_agent answers it."""
    scripts = proj.repo.parent / "scripts.json"
    scripts.write_text(json.dumps({"ASK": [{"ask": "Overwrite calc.py?"}, {}]}))
    logs = proj.repo.parent / "worker-logs"
    logs.mkdir()
    proj.configure(
        agent_command=[sys.executable, str(WORKER), str(scripts), str(logs)],
        shell_options={"readyPattern": r"READY>\s*$", "questionPattern": r"\[y/n\]\s*$"},
    )  # fmt: skip

    async def scenario(s: ClientSession) -> None:
        created = ok(await call(s, "create_task", goal="ASK first", verify=["true"]))
        session = created["session"]

        async def waiting() -> dict[str, t.Any] | None:
            proj.ao("watch", "--once")
            rows = ok(await call(s, "list_agents"))["sessions"]
            (row,) = rows
            task = row["task"]
            return row if row["activity"] == "needs_input" and task["question"] else None

        row = None
        with anyio.fail_after(60):
            while (row := await waiting()) is None:
                await anyio.sleep(0.5)
        assert "Overwrite calc.py? [y/n]" in row["question"]
        assert row["task"]["state"] == "needs_input"
        assert "Overwrite calc.py? [y/n]" in row["task"]["question"]
        answered = ok(await call(s, "send_to_agent", session=session, text="y"))
        assert answered["status"] in ("delivered", "unconfirmed")
        log = logs / f"{session}.jsonl"
        wait_for(lambda: len(log.read_text().splitlines()) == 2, what="the answer")
        assert json.loads(log.read_text().splitlines()[1])["text"] == "y"

    run(proj, scenario)


def test_finalize_pushes_the_branch_and_a_new_session_builds_on_it(proj: Project) -> None:
    proj.use_receiver()
    origin = proj.repo.parent / "origin.git"

    async def scenario(s: ClientSession) -> None:
        first = ok(await call(s, "spawn_agent", task="write the feature"))
        worktree = Path(first["worktree"])
        (worktree / "feature.txt").write_text("the feature\n")
        published = ok(await call(s, "finalize_workspace", session=first["session"],
                                  title="Add the feature"))  # fmt: skip
        assert published == {**published, "session": "d-1", "branch": "ao/d-1",
                             "committed": True, "pushed": True}  # fmt: skip
        head = git(worktree, "rev-parse", "HEAD").strip()
        assert git(origin, "rev-parse", "refs/heads/ao/d-1").strip() == head
        assert git(origin, "show", f"{head}:feature.txt") == "the feature\n"

        ready = ok(await call(s, "provision_workspace", from_session="d-1"))
        assert ready == {**ready, "project": "demo", "from_session": "d-1", "branch": "ao/d-1"}
        second = ok(await call(s, "spawn_agent", task="build on it", from_session="d-1"))
        assert second["session"] == "d-2" and second["branch"] == "ao/d-2"
        assert (Path(second["worktree"]) / "feature.txt").read_text() == "the feature\n"

    run(proj, scenario)


def test_provision_workspace_adds_projects_next_to_the_config(
    proj: Project, tmp_path: Path
) -> None:
    """The server runs from somewhere else (as in an agent's worktree) with $AO_CONFIG:
    a relative path and a clone are resolved next to the config."""
    config_path = proj.repo.parent / "agent-orchestrator.yaml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lib = proj.repo.parent / "lib"
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(lib)], check=True)
    (lib / "a.txt").write_text("a\n")
    git(lib, "add", ".")
    git(lib, "commit", "-q", "-m", "initial")
    origin_url = (proj.repo.parent / "origin.git").as_uri()

    async def scenario(s: ClientSession) -> None:
        added = ok(await call(s, "provision_workspace", repo="lib"))
        assert added == {**added, "project": "lib", "added_project": True, "cloned": False,
                         "base": "trunk", "path": str(lib)}  # fmt: skip
        cloned = ok(await call(s, "provision_workspace", repo=origin_url, name="mirror"))
        assert cloned == {**cloned, "project": "mirror", "added_project": True,
                          "cloned": True, "base": "main"}  # fmt: skip
        assert cloned["path"] == str(proj.repo.parent / "origin")
        again = ok(await call(s, "provision_workspace", repo="lib"))
        assert again["added_project"] is False  # already a project
        both = failed(await call(s, "provision_workspace", repo="lib", from_session="d-1"))
        assert "give repo or from_session, not both" in both

    run(proj, scenario, env={"AO_CONFIG": str(config_path)}, cwd=elsewhere)
    projects = yaml.safe_load(config_path.read_text())["projects"]
    assert set(projects) == {"demo", "lib", "mirror"}
    assert Path(projects["lib"]["path"]) == lib
    assert (proj.repo.parent / "origin" / "README.md").read_text() == "# demo\n"
    assert not (elsewhere / "origin").exists() and not (elsewhere / "lib").exists()


def test_errors_carry_aos_message_and_bad_input_is_rejected(proj: Project) -> None:
    cli = proj.ao("send", "zz-9", "hi")
    assert cli.returncode == 4
    line = cli.stderr.strip().removeprefix("ao: error: ")
    assert line == "no session 'zz-9' — see `ao list`"

    async def scenario(s: ClientSession) -> None:
        assert line in failed(await call(s, "send_to_agent", session="zz-9", text="hi"))
        assert "no session 'zz-9'" in failed(await call(s, "stop_agent", session="zz-9"))
        assert "no session 'zz-9'" in failed(await call(s, "finalize_workspace", session="zz-9"))
        missing_task = failed(await call(s, "task_status", task="task-9"))
        assert "no task 'task-9' — see `ao task list`" in missing_task
        bad_verify = failed(await call(s, "create_task", goal="x", verify=["pytest 'unclosed"]))
        assert "invalid verify command" in bad_verify
        assert listed(proj) == {}  # nothing was started by the failed calls

        both = failed(await call(s, "send_to_agent", session="zz-9", text="hi", keys=["Enter"]))
        assert "give text or keys — exactly one" in both
        neither = failed(await call(s, "send_to_agent", session="zz-9"))
        assert "exactly one" in neither
        no_session = failed(await call(s, "send_to_agent", text="hi"))
        assert "session" in no_session and "Field required" in no_session
        no_goal = failed(await call(s, "create_task"))
        assert "goal" in no_goal and "Field required" in no_goal
        empty_goal = failed(await call(s, "create_task", goal=""))
        assert "at least 1 character" in empty_goal
        bad_type = failed(await call(s, "stop_agent", session="zz-9", force="perhaps"))
        assert "force" in bad_type and "valid boolean" in bad_type
        bad_keys = failed(await call(s, "send_to_agent", session="zz-9", keys="Enter"))
        assert "keys" in bad_keys and "valid list" in bad_keys
        assert "Unknown tool" in failed(await call(s, "no_such_tool"))

        with pytest.raises(MCPError) as raised:
            await read(s, "ao://sessions/zz-9/status")
        assert raised.value.error.message == line
        with pytest.raises(MCPError) as raised:
            await read(s, "ao://sessions/zz-9/logs")
        assert "no session 'zz-9'" in raised.value.error.message

    run(proj, scenario)


def test_stdout_carries_only_the_protocol(proj: Project) -> None:
    """Raw JSON-RPC over the pipes: every stdout line is a protocol message, and the
    server ends cleanly when its stdin closes."""
    proj.use_receiver()
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "spawn_agent", "arguments": {"task": "raw task"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "stop_agent", "arguments": {"session": "d-1", "force": True}}},
        {"jsonrpc": "2.0", "id": 4, "method": "resources/read",
         "params": {"uri": "ao://events"}},
    ]  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "ao", "mcp"], cwd=proj.repo.parent, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert server.stdin is not None and server.stdout is not None
    answers: dict[int, dict[str, t.Any]] = {}
    lines: list[str] = []
    try:
        for message in messages:
            server.stdin.write(json.dumps(message) + "\n")
            server.stdin.flush()
            if "id" not in message:
                continue
            while message["id"] not in answers:  # requests one at a time: each answered
                line = server.stdout.readline()
                assert line, server.stderr.read() if server.stderr else ""
                lines.append(line)
                doc = json.loads(line)
                assert doc["jsonrpc"] == "2.0"
                if "id" in doc:
                    answers[doc["id"]] = doc
        server.stdin.close()
        assert server.wait(30) == 0
        lines += server.stdout.read().splitlines(keepends=True)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0", line
    assert answers[2]["result"]["structuredContent"]["session"] == "d-1"
    assert answers[3]["result"]["structuredContent"]["id"] == "d-1"
    events = json.loads(answers[4]["result"]["contents"][0]["text"])["events"]
    assert "session.stopped" in [e["type"] for e in events]
