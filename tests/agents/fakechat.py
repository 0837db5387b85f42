"""A scripted fake of the OpenAI Chat Completions API, for OpenCode, Aider and Pi offline.

``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models`` on 127.0.0.1. The
script uses the step vocabulary of ``fakemodel`` (``text``, ``write_file``, ``shell``,
``needs_permission``, ``busy``, ``auth_error``, ``usage_limit``): step *k* answers the
request whose conversation already holds *k* assistant turns, so retries get the same
answer and a resumed conversation continues where it stopped. Side requests (titles,
commit messages, summaries) are answered with a short text and recorded as auxiliary.

Tool calls are sent to whichever tool the request offers (OpenCode's ``write``/``bash``,
Pi's ``write``/``bash``). A request without tools (Aider) gets a text reply; a
``write_file`` step then becomes an edit block in the format Aider's system prompt asks
for. Every response reports usage (``INPUT_TOKENS``/``OUTPUT_TOKENS`` per turn).

``ScriptedServer`` is the shared base of this fake and ``fakegemini.FakeGemini``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import typing as t
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .fakemodel import (
    AUX_REPLY,
    DEFAULT_REPLY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    Step,
    auth_error,
    busy,
    needs_permission,
    shell,
    text,
    usage_limit,
    write_file,
)

__all__ = [
    "INPUT_TOKENS", "OUTPUT_TOKENS", "FakeChat", "Request", "ScriptedServer", "Step",
    "auth_error", "busy", "needs_permission", "shell", "text", "usage_limit", "write_file",
]  # fmt: skip

# system-prompt markers of side requests that are not part of the conversation
AUX_MARKERS = (
    "title generator",  # opencode session titles
    "Generate a title",
    "commit message",  # aider's weak-model commit messages
    "summarize",  # aider/pi history summaries
    "Summarize",
)


@dataclasses.dataclass(frozen=True)
class Request:
    """A request the fake received."""

    api: str
    path: str
    body: dict[str, t.Any]
    position: int  # model turns already in the conversation (-1: auxiliary request)

    @property
    def main(self) -> bool:
        """Part of the conversation (not a title/summary/commit-message request)."""
        return self.position >= 0

    def text(self) -> str:
        """The whole body as JSON text, for substring assertions."""
        return json.dumps(self.body)


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 that answers from a script of ``Step``s."""

    handler: t.ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self, steps: t.Sequence[Step] = ()) -> None:
        self.steps: list[Step] = list(steps)
        self.requests: list[Request] = []
        self.sent: set[str] = set()  # reply texts given so far (to recognise them later)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> t.Self:
        """Serve on a free port in a daemon thread."""
        handler = type("Handler", (self.handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *steps: Step) -> None:
        """Replace the script (step k answers the request with k model turns so far)."""
        with self._lock:
            self.steps = list(steps)

    def step_for(self, position: int) -> Step:
        """The step for a conversation position (a plain reply past the script's end)."""
        with self._lock:
            if 0 <= position < len(self.steps):
                return self.steps[position]
        return text(DEFAULT_REPLY)

    def record(self, req: Request) -> None:
        """Remember a request."""
        with self._lock:
            self.requests.append(req)

    def main_requests(self) -> list[Request]:
        """Requests that were part of the conversation, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.main]

    def turns_served(self) -> int:
        """Highest conversation position answered so far, plus one."""
        return max((r.position + 1 for r in self.main_requests()), default=0)


class JsonHandler(BaseHTTPRequestHandler):
    """Request plumbing shared by the fakes: JSON bodies, JSON replies, SSE events."""

    protocol_version = "HTTP/1.1"
    fake: t.ClassVar[ScriptedServer]

    def log_message(self, format: str, *args: t.Any) -> None:
        pass

    def read_body(self) -> dict[str, t.Any]:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def send_json(
        self, obj: object, status: int = 200, headers: t.Sequence[tuple[str, str]] = ()
    ) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def sse_start(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def sse(self, data: object) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        self.wfile.write(f"data: {payload}\n\n".encode())
        self.wfile.flush()

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


# ----------------------------------------------------------------------------- chat


class FakeChat(ScriptedServer):
    """OpenAI Chat Completions; base URL for clients is ``url + '/v1'``."""

    model = "fake-model"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``…/v1``)."""
        return self.url + "/v1"


class _ChatHandler(JsonHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            model = {"id": FakeChat.model, "object": "model", "created": 0, "owned_by": "fake"}
            self.send_json({"object": "list", "data": [model]})
            return
        self.send_json({})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self.read_body()
        if not path.endswith("/chat/completions"):
            self.send_json({"error": {"message": f"no route {path}"}}, 404)
            return
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        system = " ".join(_content(m) for m in messages if m.get("role") == "system")
        aux = not body.get("tools") and any(marker in system for marker in AUX_MARKERS)
        replies = [m for m in messages if m.get("role") == "assistant"]
        if not body.get("tools"):
            # Aider's prompt holds canned example turns: count only this fake's replies
            replies = [m for m in replies if _content(m).strip() in self.fake.sent]
        position = -1 if aux else len(replies)
        self.fake.record(Request("chat", path, body, position))
        step = text(AUX_REPLY) if aux else self.fake.step_for(position)
        if step.delay:
            time.sleep(step.delay)
        if step.kind == "error":
            self._error(step)
            return
        message = _reply(step, body, messages)
        if message.get("content"):
            self.fake.sent.add(str(message["content"]).strip())
        self._answer(body, message)

    def _answer(self, body: dict[str, t.Any], message: dict[str, t.Any]) -> None:
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        model = body.get("model") or FakeChat.model
        created = int(time.time())
        usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                 "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "finish_reason": finish}
            self.send_json({"id": cid, "object": "chat.completion", "created": created,
                            "model": model, "choices": [choice], "usage": usage})  # fmt: skip
            return
        self.sse_start()
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}

        def chunk(delta: dict[str, t.Any], reason: str | None = None, **extra: t.Any) -> None:
            self.sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
                      **extra})  # fmt: skip

        chunk({"role": "assistant", "content": ""})
        if message.get("content"):
            chunk({"content": message["content"]})
        for index, call in enumerate(message.get("tool_calls") or []):
            chunk({"tool_calls": [{**call, "index": index}]})
        chunk({}, finish)
        self.sse({**base, "choices": [], "usage": usage})
        self.sse("[DONE]")

    def _error(self, step: Step) -> None:
        if step.status == 401:
            err = {"message": "Incorrect API key provided: sk-fake.", "type": "invalid_request_error",
                   "param": None, "code": "invalid_api_key"}  # fmt: skip
            self.send_json({"error": err}, 401)
        elif step.status == 429:
            err = {"message": "You exceeded your current quota, please check your plan and "
                   "billing details.", "type": "insufficient_quota", "param": None,
                   "code": "insufficient_quota"}  # fmt: skip
            self.send_json({"error": err}, 429)
        else:
            err = {"message": "The server is overloaded.", "type": "server_error"}
            self.send_json({"error": err}, step.status, step.headers)


FakeChat.handler = _ChatHandler


def _content(message: t.Mapping[str, t.Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


_CWD = (
    re.compile(r"Working directory: ([^\s\"\\<]+)"),
    re.compile(r"Current working directory: ([^\s\"\\<]+)"),
    re.compile(r"<cwd>([^<]+)</cwd>"),
)


def request_cwd(text_: str) -> str:
    """The working directory a CLI names in its prompt, or ``.``."""
    for pattern in _CWD:
        found = pattern.search(text_)
        if found:
            return found.group(1)
    return "."


def _tool_names(tools: t.Sequence[t.Any]) -> list[str]:
    return [
        str((tool.get("function") or {}).get("name") or tool.get("name") or "")
        for tool in tools
        if isinstance(tool, dict)
    ]


def _call(name: str, args: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"id": "call_" + uuid.uuid4().hex[:12], "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}  # fmt: skip


def _reply(
    step: Step, body: dict[str, t.Any], messages: list[dict[str, t.Any]]
) -> dict[str, t.Any]:
    if step.kind == "text":
        return {"role": "assistant", "content": step.text}
    names = _tool_names(body.get("tools") or [])
    cwd = request_cwd(json.dumps(messages))
    if not names:  # aider: edits and commands live in the reply text
        system = " ".join(_content(m) for m in messages if m.get("role") == "system")
        return {"role": "assistant", "content": _aider_reply(step, system)}
    if step.kind == "write" and "write" in names:
        target = step.path if step.path.startswith("/") else f"{cwd.rstrip('/')}/{step.path}"
        return {"role": "assistant", "content": None,
                "tool_calls": [_call("write", {"filePath": target, "path": target,
                                               "content": step.content})]}  # fmt: skip
    command = step.command
    if step.kind == "write":
        quoted = step.content.replace("'", "'\\''")
        command = f"printf '%s' '{quoted}' > '{step.path}'"
    shell_name = next((n for n in ("bash", "shell", "run_shell_command") if n in names), names[0])
    args = {"command": command, "description": "Run a command"}
    return {"role": "assistant", "content": None, "tool_calls": [_call(shell_name, args)]}


def _aider_reply(step: Step, system: str) -> str:
    if step.kind != "write":
        return f"Run this:\n\n```bash\n{step.command}\n```\n"
    if "SEARCH" in system and "REPLACE" in system:
        return (
            f"I will create {step.path}.\n\n{step.path}\n```\n<<<<<<< SEARCH\n=======\n"
            f"{step.content}>>>>>>> REPLACE\n```\n"
        )
    return f"I will create {step.path}.\n\n{step.path}\n```\n{step.content}```\n"


# ----------------------------------------------------------------------------- harness

# entry points of the adapters these fakes serve (ao.agent group), as pyproject names them
MORE_AGENTS = {
    "gemini": "ao_agent_gemini:GeminiAgent",
    "opencode": "ao_agent_opencode:OpenCodeAgent",
    "aider": "ao_agent_aider:AiderAgent",
    "pi": "ao_agent_pi:PiAgent",
    "cursor": "ao_agent_cursor:CursorAgent",
}


def register_agents(where: t.Any, monkeypatch: t.Any) -> None:
    """Make ``ao`` subprocesses find the adapters even before pyproject registers them.

    Writes a metadata-only distribution (``entry_points.txt``) into ``where`` and puts it
    on PYTHONPATH; nothing is installed. A no-op once the real entry points exist.
    """
    import os
    from importlib import metadata
    from pathlib import Path

    known = {ep.name for ep in metadata.entry_points(group="ao.agent")}
    missing = {name: target for name, target in MORE_AGENTS.items() if name not in known}
    if not missing:
        return
    dist = Path(where) / "ao_more_agents-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ao-more-agents\nVersion: 0.0.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in missing.items())
    (dist / "entry_points.txt").write_text(f"[ao.agent]\n{lines}")
    path = os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)


def kill_panes(server: t.Any) -> None:
    """Kill every pane's process group on a test's tmux server.

    Some CLIs (Gemini CLI's node relauncher) survive the SIGHUP of a killed tmux server;
    ao itself ends sessions by process group, so tests clean up the same way.
    """
    import contextlib
    import os
    import signal

    try:
        pids = server.cmd("list-panes", "-a", "-F", "#{pane_pid}").stdout
    except Exception:
        return
    for pid in pids:
        if str(pid).strip().isdigit():
            with contextlib.suppress(OSError):
                os.killpg(int(pid), signal.SIGKILL)
