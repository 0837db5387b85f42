"""Anthropic Messages (Claude Code) and OpenAI Responses (Codex), scripted.

``POST /v1/messages`` (SSE or JSON) and ``/v1/messages/count_tokens``; ``POST
/v1/responses`` (SSE or JSON) and ``GET /v1/models``. Anthropic requests without tools
(titles, summaries, quota probes) and Responses requests with a JSON-schema format
(thread titles) are auxiliary. A Responses WebSocket upgrade is refused so the CLI falls
back to HTTP + SSE.
"""

from __future__ import annotations

import json
import re
import time
import typing as t
import uuid

from ao.selftest.server import (
    ANY_ROUTE,
    AUX_REPLY,
    BAD_REQUEST,
    DEFAULT_REPLY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    JsonHandler,
    Request,
    ScriptedServer,
    Step,
    StepKind,
    auth_error,
    bad_request,
    busy,
    find_cwd,
    join,
    model_not_found,
    needs_permission,
    server_error,
    shell,
    text,
    tool,
    usage_limit,
    write_command,
    write_file,
)

__all__ = [
    "ANY_ROUTE", "AUX_REPLY", "DEFAULT_REPLY", "INPUT_TOKENS", "OUTPUT_TOKENS",
    "AnthropicHandler", "FakeModel", "Request", "ResponsesHandler", "Step", "StepKind",
    "auth_error", "bad_request", "busy", "model_not_found", "needs_permission",
    "server_error", "shell", "text", "tool", "usage_limit", "write_file",
]  # fmt: skip

_CWD_PATTERNS = (
    re.compile(r"<cwd>([^<]+)</cwd>"),
    re.compile(r"Working directory: ([^\s\\\"]+)"),
    re.compile(r"Primary working directory: ([^\s\\\"]+)"),
)


def openai_request_error(step: Step, model: str) -> dict[str, t.Any]:
    """OpenAI's ``error`` object for a 400 (invalid request) or 404 (no such model)."""
    if step.status == 404:
        return {"message": f"The model `{model or 'unknown'}` does not exist or you do not "
                "have access to it.", "type": "invalid_request_error", "param": None,
                "code": "model_not_found"}  # fmt: skip
    return {"message": step.text or BAD_REQUEST, "type": "invalid_request_error",
            "param": None, "code": None}  # fmt: skip


def openai_models(*names: str) -> dict[str, t.Any]:
    """``GET /v1/models`` for OpenAI-style clients (Codex reads ``models``, others ``data``)."""
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in names]
    return {"object": "list", "data": data, "models": []}


class AnthropicHandler(JsonHandler):
    """The Anthropic Messages API."""

    def anthropic(self, path: str, body: dict[str, t.Any]) -> None:
        if path.endswith("/count_tokens"):
            self.send_json({"input_tokens": INPUT_TOKENS})
            return
        messages = body.get("messages") or []
        main = bool(body.get("tools"))
        position = sum(1 for m in messages if m.get("role") == "assistant") if main else -1
        if main:
            step = self.fake.answer("anthropic", path, body, position)
        else:
            self.fake.record(Request("anthropic", path, body, position))
            step = text(AUX_REPLY)
        self.wait(step)
        if step.kind == "error":
            self.anthropic_error(step, str(body.get("model") or ""))
            return
        blocks: list[dict[str, t.Any]]
        if step.kind == "text":
            blocks = [{"type": "text", "text": step.text}]
        elif step.kind == "write":
            target = join(find_cwd(json.dumps(body.get("system")), _CWD_PATTERNS), step.path)
            blocks = [_tool_use("Write", {"file_path": target, "content": step.content})]
        elif step.kind == "tool":
            blocks = [_tool_use(step.name, dict(step.args))]
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
            self.send_json(message)
            return
        self.sse_start()
        start: dict[str, t.Any] = {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage,
        }  # fmt: skip
        self.sse({"type": "message_start", "message": start}, "message_start")
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                empty = {"type": "text", "text": ""}
                self.sse({"type": "content_block_start", "index": index, "content_block": empty},
                         "content_block_start")  # fmt: skip
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                head = {**block, "input": {}}
                self.sse({"type": "content_block_start", "index": index,
                          "content_block": head}, "content_block_start")  # fmt: skip
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            self.sse({"type": "content_block_delta", "index": index, "delta": delta},
                     "content_block_delta")  # fmt: skip
            self.sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        self.sse({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                  "usage": {"output_tokens": OUTPUT_TOKENS}}, "message_delta")  # fmt: skip
        self.sse({"type": "message_stop"}, "message_stop")

    def anthropic_error(self, step: Step, model: str = "") -> None:
        if step.status in (400, 404):
            err = (
                {"type": "invalid_request_error", "message": step.text or BAD_REQUEST}
                if step.status == 400
                else {"type": "not_found_error", "message": f"model: {model or 'unknown'}"}
            )
            self.send_json({"type": "error", "error": err}, step.status,
                           [("x-should-retry", "false"), *step.headers])  # fmt: skip
            return
        if step.status not in (401, 429):
            err = {"type": "overloaded_error", "message": "Overloaded"}
            self.send_json({"type": "error", "error": err}, step.status, step.headers)
            return
        if step.status == 401:
            err = {"type": "authentication_error", "message": "invalid x-api-key"}
            self.send_json({"type": "error", "error": err}, 401, [("x-should-retry", "false")])
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
        self.send_json({"type": "error", "error": err}, 429, headers)


class ResponsesHandler(JsonHandler):
    """The OpenAI Responses API (HTTP + SSE; WebSocket upgrades are refused)."""

    def refuse_websocket(self) -> bool:
        """Answer 405 to a WebSocket upgrade (so the CLI falls back to SSE); True if it was one."""
        if self.headers.get("upgrade", "").lower() != "websocket":
            return False
        self.send_json({"error": {"message": "websocket upgrade not supported"}}, 405)
        return True

    def openai_responses(self, path: str, body: dict[str, t.Any]) -> None:
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
        if position < 0:
            self.fake.record(Request("openai", path, body, position))
            props = (fmt.get("schema") or {}).get("properties") or {}
            step = text(json.dumps(dict.fromkeys(props, AUX_REPLY)) if props else AUX_REPLY)
        else:
            step = self.fake.answer("openai", path, body, position)
        self.wait(step)
        if step.kind == "error":
            self.responses_error(step, str(body.get("model") or ""))
            return
        cwd = find_cwd(json.dumps(items), _CWD_PATTERNS)
        if step.kind == "text":
            item: dict[str, t.Any] = {"type": "message", "id": "msg_" + uuid.uuid4().hex[:12],
                                      "status": "completed", "role": "assistant",
                                      "content": [{"type": "output_text", "text": step.text,
                                                   "annotations": []}]}  # fmt: skip
        elif step.kind == "tool":
            item = _openai_tool_call(body.get("tools") or [], step.name, step.args)
        else:
            command = write_command(step) if step.kind == "write" else step.command
            item = _openai_shell_call(body.get("tools") or [], command, cwd, step.kind == "ask")
        model = body.get("model") or "gpt-5"
        rid = "resp_" + uuid.uuid4().hex[:12]
        usage = {"input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
        resp = {"id": rid, "object": "response", "created_at": int(time.time()),
                "status": "completed", "model": model, "output": [item],
                "usage": usage}  # fmt: skip
        if not body.get("stream"):
            self.send_json(resp)
            return
        self.sse_start()
        self.sse({"type": "response.created",
                  "response": {**resp, "status": "in_progress", "output": [], "usage": None}},
                 "response.created")  # fmt: skip
        pending = {**item, "status": "in_progress"}
        if item["type"] == "message":
            pending["content"] = []
        self.sse({"type": "response.output_item.added", "output_index": 0, "item": pending},
                 "response.output_item.added")  # fmt: skip
        if item["type"] == "message":
            self.sse({"type": "response.output_text.delta", "item_id": item["id"],
                      "output_index": 0, "content_index": 0, "delta": step.text},
                     "response.output_text.delta")  # fmt: skip
        self.sse({"type": "response.output_item.done", "output_index": 0, "item": item},
                 "response.output_item.done")  # fmt: skip
        self.sse({"type": "response.completed", "response": resp}, "response.completed")

    def responses_error(self, step: Step, model: str = "") -> None:
        err: dict[str, t.Any]
        if step.status in (400, 404):
            self.send_json({"error": openai_request_error(step, model)}, step.status, step.headers)
            return
        if step.status not in (401, 429):
            err = {"message": "The server is overloaded.", "type": "server_error"}
            self.send_json({"error": err}, step.status, step.headers)
            return
        if step.status == 401:
            err = {
                "message": "Incorrect API key provided: sk-fake.",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key",
            }  # fmt: skip
            self.send_json({"error": err}, 401)
            return
        resets = int(step.body.get("resets_at") or time.time() + 3600)
        err = {"type": "usage_limit_reached", "message": "The usage limit has been reached",
               "plan_type": "plus", "resets_at": resets,
               "resets_in_seconds": max(1, resets - int(time.time()))}  # fmt: skip
        self.send_json({"error": err}, 429, [("retry-after", "3600"), *step.headers])


class _ModelHandler(AnthropicHandler, ResponsesHandler):
    def do_GET(self) -> None:
        if self.refuse_websocket():
            return
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            self.send_json(openai_models("gpt-5"))
            return
        self.send_json({"data": [], "has_more": False})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self.read_body()
        if path.endswith("/count_tokens") or path.endswith("/v1/messages"):
            self.anthropic(path, body)
        elif path.endswith("/responses"):
            self.openai_responses(path, body)
        else:
            self.send_json({"error": {"message": f"no route {path}"}}, 404)


class FakeModel(ScriptedServer):
    """Anthropic Messages + OpenAI Responses; Anthropic base URL ``url``, OpenAI ``url/v1``."""


FakeModel.handler = _ModelHandler


def _tool_use(name: str, tool_input: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": name,
            "input": tool_input}  # fmt: skip


def _tool_names(tools: t.Sequence[t.Any]) -> set[str]:
    names = set()
    for spec in tools:
        if isinstance(spec, dict):
            names.add(str(spec.get("name") or (spec.get("function") or {}).get("name") or ""))
    return names


def _openai_shell_call(
    tools: t.Sequence[t.Any], command: str, cwd: str, escalate: bool
) -> dict[str, t.Any]:
    """A function call to whichever shell tool this Codex version offers."""
    names = _tool_names(tools)
    args: dict[str, t.Any]
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


def _openai_tool_call(
    tools: t.Sequence[t.Any], name: str, args: t.Mapping[str, t.Any]
) -> dict[str, t.Any]:
    """A function call to the tool ``name``, in a namespace if the request offers it in one.

    Codex offers an MCP server's tools as a ``namespace`` tool (``mcp__<server>``) of
    functions and runs a call only with ``namespace`` set: ``mcp__<server>__<tool>``
    becomes ``{"namespace": "mcp__<server>", "name": "<tool>"}``.
    """
    call: dict[str, t.Any] = {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:12],
                              "status": "completed", "call_id": "call_" + uuid.uuid4().hex[:12],
                              "name": name, "arguments": json.dumps(dict(args))}  # fmt: skip
    for spec in tools:
        if not isinstance(spec, dict) or spec.get("type") != "namespace":
            continue
        space = str(spec.get("name") or "")
        for inner in spec.get("tools") or []:
            inner_name = str(inner.get("name") or "") if isinstance(inner, dict) else ""
            if inner_name and name in (f"{space}__{inner_name}", f"{space}{inner_name}"):
                return {**call, "name": inner_name, "namespace": space}
    return call
