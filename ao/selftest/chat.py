"""OpenAI Chat Completions (OpenCode, Aider, Pi), scripted.

``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models``. Tool calls go to
whichever tool the request offers (OpenCode's and Pi's ``write``/``bash``; a ``tool`` step
calls the tool it names). A request without tools (Aider) gets a text reply; a
``write_file`` step then becomes an edit block in the format Aider's system prompt asks
for, a shell step a fenced ``bash`` block. Side requests (titles, commit messages,
summaries) are answered with a short text.
"""

from __future__ import annotations

import json
import re
import time
import typing as t
import uuid

from ao.selftest.model import openai_models, openai_request_error
from ao.selftest.server import (
    AUX_REPLY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    JsonHandler,
    Request,
    ScriptedServer,
    Step,
    find_cwd,
    join,
    text,
    write_command,
)

# system-prompt markers of side requests that are not part of the conversation
AUX_MARKERS = (
    "title generator",  # opencode session titles
    "Generate a title",
    "commit message",  # aider's weak-model commit messages
    "summarize",  # aider/pi history summaries
    "Summarize",
)
MODEL = "fake-model"

_CWD = (
    re.compile(r"Working directory: ([^\s\"\\<]+)"),
    re.compile(r"Current working directory: ([^\s\"\\<]+)"),
    re.compile(r"<cwd>([^<]+)</cwd>"),
)


def request_cwd(text_: str) -> str:
    """The working directory a CLI names in its prompt, or ``.``."""
    return find_cwd(text_, _CWD)


class ChatHandler(JsonHandler):
    """The Chat Completions API."""

    def chat(self, path: str, body: dict[str, t.Any]) -> None:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        system = " ".join(_content(m) for m in messages if m.get("role") == "system")
        aux = not body.get("tools") and any(marker in system for marker in AUX_MARKERS)
        replies = [m for m in messages if m.get("role") == "assistant"]
        if not body.get("tools"):
            # Aider's prompt holds canned example turns: count only this server's replies
            replies = [m for m in replies if _content(m).strip() in self.fake.sent]
        position = -1 if aux else len(replies)
        if aux:
            self.fake.record(Request("chat", path, body, position))
            step = text(AUX_REPLY)
        else:
            step = self.fake.answer("chat", path, body, position)
        self.wait(step)
        if step.kind == "error":
            self.chat_error(step, str(body.get("model") or MODEL))
            return
        message = _reply(step, body, messages)
        if message.get("content"):
            self.fake.sent.add(str(message["content"]).strip())
        self._chat_answer(body, message)

    def _chat_answer(self, body: dict[str, t.Any], message: dict[str, t.Any]) -> None:
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        model = body.get("model") or MODEL
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

        def chunk(delta: dict[str, t.Any], reason: str | None = None) -> None:
            self.sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]})

        chunk({"role": "assistant", "content": ""})
        if message.get("content"):
            chunk({"content": message["content"]})
        for index, call in enumerate(message.get("tool_calls") or []):
            chunk({"tool_calls": [{**call, "index": index}]})
        chunk({}, finish)
        self.sse({**base, "choices": [], "usage": usage})
        self.sse("[DONE]")

    def chat_error(self, step: Step, model: str = MODEL) -> None:
        if step.status == 401:
            err: dict[str, t.Any] = {
                "message": "Incorrect API key provided: sk-fake.",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key",
            }  # fmt: skip
            self.send_json({"error": err}, 401)
        elif step.status == 429:
            err = {"message": "You exceeded your current quota, please check your plan and "
                   "billing details.", "type": "insufficient_quota", "param": None,
                   "code": "insufficient_quota"}  # fmt: skip
            self.send_json({"error": err}, 429)
        elif step.status in (400, 404):
            err = openai_request_error(step, model)
            self.send_json({"error": err}, step.status, step.headers)
        else:
            err = {"message": "The server is overloaded.", "type": "server_error"}
            self.send_json({"error": err}, step.status, step.headers)


class _ChatOnlyHandler(ChatHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            self.send_json(openai_models(MODEL))
            return
        self.send_json({})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self.read_body()
        if not path.endswith("/chat/completions"):
            self.send_json({"error": {"message": f"no route {path}"}}, 404)
            return
        self.chat(path, body)


class FakeChat(ScriptedServer):
    """OpenAI Chat Completions; base URL for clients is ``base_url`` (``url + '/v1'``)."""

    model = MODEL


FakeChat.handler = _ChatOnlyHandler


def _content(message: t.Mapping[str, t.Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


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
    if step.kind == "tool":
        return {"role": "assistant", "content": None,
                "tool_calls": [_call(step.name, dict(step.args))]}  # fmt: skip
    if step.kind == "write" and "write" in names:
        target = join(cwd, step.path)
        return {"role": "assistant", "content": None,
                "tool_calls": [_call("write", {"filePath": target, "path": target,
                                               "content": step.content})]}  # fmt: skip
    command = write_command(step) if step.kind == "write" else step.command
    shells = ("bash", "shell", "Shell", "run_shell_command")  # Shell: Kimi Code
    shell_name = next((n for n in shells if n in names), names[0])
    args = {"command": command, "description": "Run a command"}
    return {"role": "assistant", "content": None, "tool_calls": [_call(shell_name, args)]}


def _aider_reply(step: Step, system: str) -> str:
    if step.kind == "tool":  # no tools without a tools list: say what was asked
        return f"I would call {step.name} with {json.dumps(dict(step.args))}.\n"
    if step.kind != "write":
        return f"Run this:\n\n```bash\n{step.command}\n```\n"
    if "SEARCH" in system and "REPLACE" in system:
        return (
            f"I will create {step.path}.\n\n{step.path}\n```\n<<<<<<< SEARCH\n=======\n"
            f"{step.content}>>>>>>> REPLACE\n```\n"
        )
    return f"I will create {step.path}.\n\n{step.path}\n```\n{step.content}```\n"
