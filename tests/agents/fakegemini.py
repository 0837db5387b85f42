"""A scripted fake of the Gemini API (``generativelanguage``), for Gemini CLI offline.

Point the CLI at it with ``GOOGLE_GEMINI_BASE_URL=<url>`` plus ``GEMINI_API_KEY`` and the
``gemini-api-key`` auth type in settings. Routes: ``:streamGenerateContent`` (SSE, the
conversation), ``:generateContent`` (JSON-mode side calls: model router, next-speaker
check, loop detection — answered with JSON that fits the request's schema),
``:countTokens``, ``:embedContent``, ``GET …/models``.

Scripting follows ``fakemodel``: step *k* answers the request whose ``contents`` already
hold *k* model turns. ``write_file`` becomes a ``write_file`` function call with an
absolute path under the directory the CLI names in its prompt; ``shell`` and
``needs_permission`` become ``run_shell_command`` (which the CLI asks about unless it
runs in yolo mode). ``auth_error()`` answers 401 UNAUTHENTICATED (use
``invalid_key()`` for the 400 API_KEY_INVALID the real API gives a bad key);
``usage_limit()`` answers 429 RESOURCE_EXHAUSTED with a per-day quota violation, which
the CLI treats as terminal.
"""

from __future__ import annotations

import json
import re
import time
import typing as t

from .fakechat import AUX_REPLY, INPUT_TOKENS, OUTPUT_TOKENS, JsonHandler, Request, ScriptedServer
from .fakemodel import Step, text

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


def invalid_key() -> Step:
    """HTTP 400 API_KEY_INVALID, what the real Gemini API answers a wrong API key."""
    return Step("error", status=400, body={"reason": "API_KEY_INVALID"})


class FakeGemini(ScriptedServer):
    """The Gemini API; the CLI's base URL is ``url`` (``GOOGLE_GEMINI_BASE_URL``)."""


class _GeminiHandler(JsonHandler):
    def do_GET(self) -> None:
        self.send_json({"models": [{"name": "models/gemini-2.5-pro"}]})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self.read_body()
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

    def _generate(self, path: str, body: dict[str, t.Any], *, stream: bool) -> None:
        config = body.get("generationConfig") or {}
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        json_mode = config.get("responseMimeType") == "application/json"
        main = bool(body.get("tools")) and not json_mode
        position = sum(1 for c in contents if c.get("role") == "model") if main else -1
        self.fake.record(Request("gemini", path, body, position))
        if not main:
            schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
            reply = json.dumps(_fill(schema)) if json_mode else AUX_REPLY
            self._respond([{"text": reply}], stream)
            return
        step = self.fake.step_for(position)
        if step.delay:
            time.sleep(step.delay)
        if step.kind == "error":
            self._error(step)
            return
        if step.kind == "text":
            parts: list[dict[str, t.Any]] = [{"text": step.text}]
        elif step.kind == "write":
            cwd = _cwd(json.dumps(body))
            target = step.path if step.path.startswith("/") else f"{cwd.rstrip('/')}/{step.path}"
            parts = [{"functionCall": {"name": "write_file",
                                       "args": {"file_path": target, "content": step.content}}}]  # fmt: skip
        else:
            args = {"command": step.command, "description": "Run a command"}
            parts = [{"functionCall": {"name": "run_shell_command", "args": args}}]
        self._respond(parts, stream)

    def _respond(self, parts: list[dict[str, t.Any]], stream: bool) -> None:
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

    def _error(self, step: Step) -> None:
        if step.status == 400:
            detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                      "reason": step.body.get("reason", "API_KEY_INVALID"),
                      "domain": "googleapis.com"}  # fmt: skip
            err = {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                   "status": "INVALID_ARGUMENT", "details": [detail]}  # fmt: skip
        elif step.status == 401:
            err = {"code": 401, "status": "UNAUTHENTICATED",
                   "message": "Request had invalid authentication credentials. Expected OAuth 2 "
                   "access token, login cookie or other valid authentication credential."}  # fmt: skip
        elif step.status == 429:
            quota = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
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


FakeGemini.handler = _GeminiHandler

_CWD = (
    re.compile(r"working in the directory: ([^\s\"\\]+)"),
    re.compile(r"[Cc]urrent working directory[^:]*: ([^\s\"\\]+)"),
    re.compile(r"Workspace Directories:?\s*(?:\\n)?\s*(?:- )?(/[^\s\"\\]+)"),
    re.compile(r"<cwd>([^<]+)</cwd>"),
)


def _cwd(text_: str) -> str:
    for pattern in _CWD:
        found = pattern.search(text_)
        if found:
            return found.group(1).rstrip(".,")
    return "."


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


__all__ = ["FakeGemini", "Step", "invalid_key", "text"]
