"""The Gemini API (``generativelanguage``) for Gemini CLI, scripted.

Point the CLI at it with ``GOOGLE_GEMINI_BASE_URL=<url>`` plus ``GEMINI_API_KEY``. Routes:
``:streamGenerateContent`` (SSE, the conversation), ``:generateContent`` (JSON-mode side
calls: model router, next-speaker check, loop detection — answered with JSON that fits
the request's schema), ``:countTokens``, ``:embedContent``, ``GET …/models``.

``write_file`` becomes a ``write_file`` function call with an absolute path under the
directory the CLI names in its prompt; ``shell`` and ``needs_permission`` become
``run_shell_command`` (which the CLI asks about unless it runs in yolo mode); ``tool``
becomes a call of the function it names. Gemini CLI names an MCP server ``S``'s tool ``T``
``mcp_S_T``: a ``tool("mcp__S__T", …)`` (Claude Code's spelling, which the other fakes
take) is rewritten to that, so one script serves every CLI.
``auth_error()`` answers 401 UNAUTHENTICATED (``invalid_key()``: the 400 API_KEY_INVALID
the real API gives a bad key); ``usage_limit()`` answers 429 RESOURCE_EXHAUSTED with a
per-day quota violation, which the CLI treats as terminal; ``bad_request()`` answers 400
INVALID_ARGUMENT and ``model_not_found()`` 404 NOT_FOUND.
"""

from __future__ import annotations

import json
import re
import typing as t

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
)

MODEL_VERSION = "gemini-fake-001"
# values for the JSON-mode side calls the CLI makes (router, next speaker, loop check)
JSON_VALUES: dict[str, t.Any] = {
    "reasoning": "The user spoke last; the model is done.",
    "next_speaker": "user",
    "model_choice": "flash",
    "complexity_reasoning": "simple",
    "complexity_score": 10,
    "is_stuck": False,
    "confidence": 0.0,
    "unproductive_state_analysis": "none",
    "unproductive_state_confidence": 0.0,
}
_CWD = (
    re.compile(r"working in the directory: ([^\s\"\\]+)"),
    re.compile(r"[Cc]urrent working directory[^:]*: ([^\s\"\\]+)"),
    re.compile(r"Workspace Directories:?\s*(?:\\n)?\s*(?:- )?(/[^\s\"\\]+)"),
    re.compile(r"<cwd>([^<]+)</cwd>"),
)
_MCP_NAME = re.compile(r"mcp__([^_]+(?:_[^_]+)*?)__(.+)")


def invalid_key() -> Step:
    """HTTP 400 API_KEY_INVALID, what the real Gemini API answers a wrong API key."""
    return Step("error", status=400, body={"reason": "API_KEY_INVALID"})


def gemini_tool_name(name: str) -> str:
    """The name Gemini CLI gives a tool: ``mcp__S__T`` (an MCP tool, spelt as Claude Code
    does) becomes ``mcp_S_T``; any other name is kept."""
    found = _MCP_NAME.fullmatch(name)
    return f"mcp_{found.group(1)}_{found.group(2)}" if found else name


def is_gemini_path(path: str) -> bool:
    """Whether a POST path is a Gemini API method (``models/<m>:<method>``)."""
    return ":" in path.rsplit("/", 1)[-1]


class GeminiHandler(JsonHandler):
    """The Gemini API's POST methods."""

    def gemini(self, path: str, body: dict[str, t.Any]) -> None:
        if ":countTokens" in path:
            self.send_json({"totalTokens": INPUT_TOKENS})
        elif ":embedContent" in path or ":batchEmbedContents" in path:
            self.send_json(
                {"embeddings": [{"values": [0.0] * 8}], "embedding": {"values": [0.0] * 8}}
            )
        elif ":streamGenerateContent" in path or ":generateContent" in path:
            self._generate(path, body, stream=":streamGenerateContent" in path)
        else:
            self.send_json({"error": {"code": 404, "message": f"no route {path}"}}, 404)

    def gemini_models(self) -> None:
        self.send_json({"models": [{"name": "models/gemini-2.5-pro"}]})

    def _generate(self, path: str, body: dict[str, t.Any], *, stream: bool) -> None:
        config = body.get("generationConfig") or {}
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        json_mode = config.get("responseMimeType") == "application/json"
        main = bool(body.get("tools")) and not json_mode
        position = sum(1 for c in contents if c.get("role") == "model") if main else -1
        if not main:
            self.fake.record(Request("gemini", path, body, position))
            schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
            reply = json.dumps(_fill(schema)) if json_mode else AUX_REPLY
            self._gemini_respond([{"text": reply}], stream)
            return
        step = self.fake.answer("gemini", path, body, position)
        self.wait(step)
        if step.kind == "error":
            self.gemini_error(step, _model_of(path))
            return
        if step.kind == "text":
            parts: list[dict[str, t.Any]] = [{"text": step.text}]
        elif step.kind == "write":
            cwd = find_cwd(json.dumps(body), _CWD).rstrip(".,") or "."
            target = join(cwd, step.path)
            args = {"file_path": target, "content": step.content}
            parts = [{"functionCall": {"name": "write_file", "args": args}}]
        elif step.kind == "tool":
            name = gemini_tool_name(step.name)
            parts = [{"functionCall": {"name": name, "args": dict(step.args)}}]
        else:
            args = {"command": step.command, "description": "Run a command"}
            parts = [{"functionCall": {"name": "run_shell_command", "args": args}}]
        self._gemini_respond(parts, stream)

    def _gemini_respond(self, parts: list[dict[str, t.Any]], stream: bool) -> None:
        usage = {"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
                 "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
        doc = {"candidates": [{"content": {"parts": parts, "role": "model"},
                               "finishReason": "STOP", "index": 0}],
               "usageMetadata": usage, "modelVersion": MODEL_VERSION}  # fmt: skip
        if not stream:
            self.send_json(doc)
            return
        self.sse_start()
        self.sse(doc)

    def gemini_error(self, step: Step, model: str = "") -> None:
        if step.status == 400 and step.body.get("reason") != "API_KEY_INVALID":
            err = {"code": 400, "status": "INVALID_ARGUMENT",
                   "message": step.text or "Request contains an invalid argument."}  # fmt: skip
        elif step.status == 404:
            err = {"code": 404, "status": "NOT_FOUND",
                   "message": f"models/{model or 'unknown'} is not found for API version "
                   "v1beta, or is not supported for generateContent. Call ListModels to see "
                   "the list of available models and their supported methods."}  # fmt: skip
        elif step.status == 400:
            detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                      "reason": step.body.get("reason", "API_KEY_INVALID"),
                      "domain": "googleapis.com"}  # fmt: skip
            err = {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                   "status": "INVALID_ARGUMENT", "details": [detail]}  # fmt: skip
        elif step.status == 401:
            err = {"code": 401, "status": "UNAUTHENTICATED",
                   "message": "Request had invalid authentication credentials. Expected OAuth "
                   "2 access token, login cookie or other valid authentication "
                   "credential."}  # fmt: skip
        elif step.status == 429:
            quota = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric":
                    "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                "quotaValue": "100"}]}  # fmt: skip
            err = {"code": 429, "status": "RESOURCE_EXHAUSTED",
                   "message": "You exceeded your current quota, please check your plan and "
                   "billing details.", "details": [quota]}  # fmt: skip
        else:
            err = {"code": step.status, "status": "UNAVAILABLE",
                   "message": "The model is overloaded. Please try again later."}  # fmt: skip
        self.send_json({"error": err}, step.status)


class _GeminiOnlyHandler(GeminiHandler):
    def do_GET(self) -> None:
        self.gemini_models()

    def do_POST(self) -> None:
        self.gemini(self.path.split("?")[0], self.read_body())


class FakeGemini(ScriptedServer):
    """The Gemini API; the CLI's base URL is ``url`` (``GOOGLE_GEMINI_BASE_URL``)."""


FakeGemini.handler = _GeminiOnlyHandler


def _model_of(path: str) -> str:
    """The model a Gemini API path names (``…/models/<model>:<method>``)."""
    return path.rsplit("/", 1)[-1].split(":", 1)[0]


def _fill(schema: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A JSON object that satisfies a JSON-mode request's (simple) object schema."""
    out: dict[str, t.Any] = {}
    props = schema.get("properties") or {}
    for name, spec in props.items():
        if name in JSON_VALUES:
            out[name] = JSON_VALUES[name]
            continue
        spec = spec if isinstance(spec, dict) else {}
        kind = str(spec.get("type") or "string").lower()
        if spec.get("enum"):
            out[name] = spec["enum"][0]
        elif kind in ("number", "integer"):
            out[name] = 0
        elif kind == "boolean":
            out[name] = False
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = _fill(spec)
        else:
            out[name] = "fake"
    if not props:
        out = dict(JSON_VALUES)
    return out
