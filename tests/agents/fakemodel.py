"""A scripted fake model server for driving the real agent CLIs offline.

One stdlib ``ThreadingHTTPServer`` on 127.0.0.1 speaks two wire protocols:

- the Anthropic Messages API (``POST /v1/messages``, SSE) for Claude Code, and
- the OpenAI Responses API (``POST /v1/responses``, SSE, plus ``GET /v1/models``) for Codex.

A test scripts the model with a list of ``Step``s. Step *k* answers the request whose
conversation already holds *k* model turns, so a retried request gets the same answer
and a resumed conversation continues where it stopped. Requests that are not part of
the conversation (titles, summaries, quota probes: Anthropic requests without tools)
get a short text and are recorded as auxiliary. Every response reports usage tokens
(``INPUT_TOKENS``/``OUTPUT_TOKENS`` per turn) so the CLIs record tokens and cost.
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

INPUT_TOKENS = 120
OUTPUT_TOKENS = 30
DEFAULT_REPLY = "Hello from the fake model."
AUX_REPLY = "Fake title"

StepKind = t.Literal["text", "write", "shell", "ask", "error"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One model turn: a reply, a tool call, or an HTTP error (after ``delay`` seconds)."""

    kind: StepKind
    text: str = ""
    path: str = ""  # write: file path relative to the CLI's working directory
    content: str = ""
    command: str = ""  # shell
    status: int = 200  # error
    body: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def text(reply: str, *, delay: float = 0.0) -> Step:
    """Answer with ``reply`` and end the turn."""
    return Step("text", text=reply, delay=delay)


def write_file(path: str, content: str, *, delay: float = 0.0) -> Step:
    """Ask the CLI to write ``content`` to ``path`` (relative to its working directory)."""
    return Step("write", path=path, content=content, delay=delay)


def shell(command: str, *, delay: float = 0.0) -> Step:
    """Ask the CLI to run ``command`` in its shell tool."""
    return Step("shell", command=command, delay=delay)


def needs_permission(command: str) -> Step:
    """Run ``command`` in a way the CLI must ask about (Codex: an escalated, unsandboxed run)."""
    return Step("ask", command=command)


def busy(seconds: float, reply: str = "Done after a while.") -> Step:
    """Stay busy (no response bytes) for ``seconds``, then answer ``reply``."""
    return text(reply, delay=seconds)


def auth_error() -> Step:
    """HTTP 401 in the vendor's shape (invalid API key)."""
    return Step("error", status=401)


def server_error(status: int = 529) -> Step:
    """A transient server error the CLIs retry (Anthropic 529 overloaded, OpenAI 5xx)."""
    return Step("error", status=status)


def usage_limit(resets_in: float = 3600.0) -> Step:
    """HTTP 429 in the vendor's usage-limit shape, resetting ``resets_in`` seconds from now."""
    return Step("error", status=429, body={"resets_at": int(time.time() + resets_in)})


@dataclasses.dataclass(frozen=True)
class Request:
    """A request the fake received."""

    api: t.Literal["anthropic", "openai"]
    path: str
    body: dict[str, t.Any]
    position: int  # model turns already in the conversation (-1: auxiliary request)

    @property
    def main(self) -> bool:
        """Part of the conversation (not a title/summary/quota request)."""
        return self.position >= 0

    def text(self) -> str:
        """The whole body as JSON text, for substring assertions."""
        return json.dumps(self.body)


class FakeModel:
    """The scripted server; start with ``FakeModel().start()``, stop with ``close()``."""

    def __init__(self, steps: t.Sequence[Step] = ()) -> None:
        self.steps: list[Step] = list(steps)
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeModel:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (Anthropic base URL; OpenAI base is ``url + '/v1'``)."""
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ scripting

    def script(self, *steps: Step) -> None:
        """Replace the script (step k answers the request with k model turns so far)."""
        with self._lock:
            self.steps = list(steps)

    def step_for(self, position: int) -> Step:
        with self._lock:
            if 0 <= position < len(self.steps):
                return self.steps[position]
        return text(DEFAULT_REPLY)

    def record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def main_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.main]

    def turns_served(self) -> int:
        """Highest conversation position answered so far, plus one."""
        return max((r.position + 1 for r in self.main_requests()), default=0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: t.ClassVar[FakeModel]

    def log_message(self, format: str, *args: t.Any) -> None:
        pass

    # ------------------------------------------------------------------ plumbing

    def _read(self) -> dict[str, t.Any]:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _json(
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

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def _sse(self, event: str, data: t.Mapping[str, t.Any]) -> None:
        self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.headers.get("upgrade", "").lower() == "websocket":
            # Responses over WebSocket is not spoken here: refuse the upgrade (as many
            # proxies do) so the CLI falls back to HTTP + SSE
            self._json({"error": {"message": "websocket upgrade not supported"}}, 405)
            return
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            model = {"id": "gpt-5", "object": "model", "created": 0, "owned_by": "fake"}
            self._json({"object": "list", "data": [model], "models": []})
            return
        self._json({"data": [], "has_more": False})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self._read()
        if path.endswith("/count_tokens"):
            self._json({"input_tokens": INPUT_TOKENS})
        elif path.endswith("/v1/messages"):
            self._anthropic(path, body)
        elif path.endswith("/responses"):
            self._openai(path, body)
        else:
            self._json({"error": {"message": f"no route {path}"}}, 404)

    # ------------------------------------------------------------------ anthropic

    def _anthropic(self, path: str, body: dict[str, t.Any]) -> None:
        messages = body.get("messages") or []
        main = bool(body.get("tools"))
        position = sum(1 for m in messages if m.get("role") == "assistant") if main else -1
        self.fake.record(Request("anthropic", path, body, position))
        step = self.fake.step_for(position) if main else text(AUX_REPLY)
        if step.delay:
            time.sleep(step.delay)
        if step.kind == "error":
            self._anthropic_error(step)
            return
        blocks: list[dict[str, t.Any]]
        if step.kind == "text":
            blocks = [{"type": "text", "text": step.text}]
        elif step.kind == "write":
            target = _join(_cwd(json.dumps(body.get("system"))), step.path)
            blocks = [_tool_use("Write", {"file_path": target, "content": step.content})]
        else:
            blocks = [_tool_use("Bash", {"command": step.command, "description": "Run a command"})]
        model = body.get("model") or "claude-sonnet-4-5"
        mid = "msg_" + uuid.uuid4().hex[:20]
        stop = "tool_use" if blocks[0]["type"] == "tool_use" else "end_turn"
        usage = {
            "input_tokens": INPUT_TOKENS,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        if not body.get("stream"):
            message = {"id": mid, "type": "message", "role": "assistant", "model": model,
                       "content": blocks, "stop_reason": stop, "stop_sequence": None,
                       "usage": {**usage, "output_tokens": OUTPUT_TOKENS}}  # fmt: skip
            self._json(message)
            return
        self._sse_start()
        start = {"id": mid, "type": "message", "role": "assistant", "model": model,
                 "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
        self._sse("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                self._sse("content_block_start", {"type": "content_block_start", "index": index,
                          "content_block": {"type": "text", "text": ""}})  # fmt: skip
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                head = {**block, "input": {}}
                self._sse("content_block_start", {"type": "content_block_start", "index": index,
                          "content_block": head})  # fmt: skip
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            self._sse("content_block_delta",
                      {"type": "content_block_delta", "index": index, "delta": delta})  # fmt: skip
            self._sse("content_block_stop", {"type": "content_block_stop", "index": index})
        self._sse("message_delta", {"type": "message_delta",
                  "delta": {"stop_reason": stop, "stop_sequence": None},
                  "usage": {"output_tokens": OUTPUT_TOKENS}})  # fmt: skip
        self._sse("message_stop", {"type": "message_stop"})

    def _anthropic_error(self, step: Step) -> None:
        if step.status not in (401, 429):
            err = {"type": "overloaded_error", "message": "Overloaded"}
            self._json({"type": "error", "error": err}, step.status, step.headers)
            return
        if step.status == 401:
            err = {"type": "authentication_error", "message": "invalid x-api-key"}
            self._json({"type": "error", "error": err}, 401, [("x-should-retry", "false")])
            return
        resets = int(step.body.get("resets_at") or time.time() + 3600)
        err = {"type": "rate_limit_error", "message": "You have reached your usage limit."}
        headers = [
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", str(resets)),
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", str(resets)),
            ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
            ("retry-after", str(max(1, resets - int(time.time())))),
            ("x-should-retry", "false"),
            *step.headers,
        ]
        self._json({"type": "error", "error": err}, 429, headers)

    # ------------------------------------------------------------------ openai

    def _openai(self, path: str, body: dict[str, t.Any]) -> None:
        items = body.get("input") or []
        turn_types = {"function_call", "custom_tool_call", "local_shell_call"}
        position = sum(
            1
            for it in items
            if isinstance(it, dict)
            and (
                it.get("type") in turn_types
                or (it.get("type") == "message" and it.get("role") == "assistant")
            )
        )
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            position = -1  # a thread title or other side request
        self.fake.record(Request("openai", path, body, position))
        if position < 0:
            props = (fmt.get("schema") or {}).get("properties") or {}
            step = text(json.dumps(dict.fromkeys(props, AUX_REPLY)) if props else AUX_REPLY)
        else:
            step = self.fake.step_for(position)
        if step.delay:
            time.sleep(step.delay)
        if step.kind == "error":
            self._openai_error(step)
            return
        cwd = _cwd(json.dumps(items))
        if step.kind == "text":
            item: dict[str, t.Any] = {"type": "message", "id": "msg_" + uuid.uuid4().hex[:12],
                                      "status": "completed", "role": "assistant",
                                      "content": [{"type": "output_text", "text": step.text,
                                                   "annotations": []}]}  # fmt: skip
        else:
            command = _write_command(step) if step.kind == "write" else step.command
            item = _openai_shell_call(body.get("tools") or [], command, cwd, step.kind == "ask")
        model = body.get("model") or "gpt-5"
        rid = "resp_" + uuid.uuid4().hex[:12]
        usage = {"input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
        resp = {"id": rid, "object": "response", "created_at": int(time.time()),
                "status": "completed", "model": model, "output": [item], "usage": usage}  # fmt: skip
        if not body.get("stream"):
            self._json(resp)
            return
        self._sse_start()
        self._sse("response.created", {"type": "response.created",
                  "response": {**resp, "status": "in_progress", "output": [], "usage": None}})  # fmt: skip
        pending = {**item, "status": "in_progress"}
        if item["type"] == "message":
            pending["content"] = []
        self._sse("response.output_item.added",
                  {"type": "response.output_item.added", "output_index": 0, "item": pending})  # fmt: skip
        if item["type"] == "message":
            self._sse("response.output_text.delta", {"type": "response.output_text.delta",
                      "item_id": item["id"], "output_index": 0, "content_index": 0,
                      "delta": step.text})  # fmt: skip
        self._sse("response.output_item.done",
                  {"type": "response.output_item.done", "output_index": 0, "item": item})  # fmt: skip
        self._sse("response.completed", {"type": "response.completed", "response": resp})

    def _openai_error(self, step: Step) -> None:
        if step.status not in (401, 429):
            err = {"message": "The server is overloaded.", "type": "server_error"}
            self._json({"error": err}, step.status, step.headers)
            return
        if step.status == 401:
            err = {"message": "Incorrect API key provided: sk-fake.", "type": "invalid_request_error",
                   "param": None, "code": "invalid_api_key"}  # fmt: skip
            self._json({"error": err}, 401)
            return
        resets = int(step.body.get("resets_at") or time.time() + 3600)
        err = {"type": "usage_limit_reached", "message": "The usage limit has been reached",
               "plan_type": "plus", "resets_at": resets,
               "resets_in_seconds": max(1, resets - int(time.time()))}  # fmt: skip
        self._json({"error": err}, 429, [("retry-after", "3600"), *step.headers])


# ---------------------------------------------------------------------- helpers


_CWD_PATTERNS = (
    re.compile(r"<cwd>([^<]+)</cwd>"),
    re.compile(r"Working directory: ([^\s\\\"]+)"),
    re.compile(r"Primary working directory: ([^\s\\\"]+)"),
)


def _cwd(text: str) -> str:
    for pattern in _CWD_PATTERNS:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return "."


def _join(cwd: str, path: str) -> str:
    return path if path.startswith("/") else f"{cwd.rstrip('/')}/{path}"


def _tool_use(name: str, tool_input: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": name,
            "input": tool_input}  # fmt: skip


def _write_command(step: Step) -> str:
    quoted = step.content.replace("'", "'\\''")
    target = step.path.replace("'", "'\\''")
    return f"printf '%s' '{quoted}' > '{target}'"


def _tool_names(tools: t.Sequence[t.Any]) -> set[str]:
    names = set()
    for tool in tools:
        if isinstance(tool, dict):
            names.add(str(tool.get("name") or (tool.get("function") or {}).get("name") or ""))
    return names


def _openai_shell_call(
    tools: t.Sequence[t.Any], command: str, cwd: str, escalate: bool
) -> dict[str, t.Any]:
    """A function call to whichever shell tool this Codex version offers."""
    names = _tool_names(tools)
    if "exec_command" in names:
        name, args = "exec_command", {"cmd": command, "workdir": cwd}
        if escalate:
            args["sandbox_permissions"] = "require_escalated"
            args["justification"] = "Do you allow running this command outside the sandbox?"
    elif "shell_command" in names:
        name, args = "shell_command", {"command": command, "workdir": cwd}
    else:
        name, args = "shell", {"command": ["bash", "-lc", command], "workdir": cwd}
    return {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:12], "status": "completed",
            "call_id": "call_" + uuid.uuid4().hex[:12], "name": name,
            "arguments": json.dumps(args)}  # fmt: skip


def main() -> None:  # pragma: no cover - manual exploration helper
    """``python -m tests.agents.fakemodel [reply]``: serve one reply until interrupted."""
    import sys

    fake = FakeModel([text(" ".join(sys.argv[1:]) or DEFAULT_REPLY)]).start()
    print(fake.url, flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for req in fake.requests[seen:]:
                print(req.api, req.path, "turn", req.position, flush=True)
            seen = len(fake.requests)
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":  # pragma: no cover
    main()
