"""One scripted server that speaks every wire protocol the adapters' CLIs use.

What ``ao doctor --agents`` starts: an adapter's ``selftest_env(model_url, home)`` points
its CLI at ``model_url`` with whichever API the CLI speaks — Anthropic Messages
(``/v1/messages``), OpenAI Responses (``/v1/responses``), Chat Completions
(``/v1/chat/completions``, base ``model_url + '/v1'``) or the Gemini API
(``/v1beta/models/<m>:<method>``, base ``model_url``).
"""

from __future__ import annotations

from ao.selftest.chat import MODEL, ChatHandler
from ao.selftest.gemini import GeminiHandler, is_gemini_path
from ao.selftest.model import AnthropicHandler, ResponsesHandler, openai_models
from ao.selftest.server import ScriptedServer


class _AnyHandler(AnthropicHandler, ResponsesHandler, ChatHandler, GeminiHandler):
    def do_GET(self) -> None:
        if self.refuse_websocket():
            return
        path = self.path.split("?")[0].rstrip("/")
        if "/v1beta" in path:
            self.gemini_models()
        elif path.endswith("/models"):
            self.send_json(openai_models("gpt-5", MODEL))
        else:
            self.send_json({"data": [], "has_more": False})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self.read_body()
        if is_gemini_path(path):
            self.gemini(path, body)
        elif path.endswith("/count_tokens") or path.endswith("/v1/messages"):
            self.anthropic(path, body)
        elif path.endswith("/responses"):
            self.openai_responses(path, body)
        elif path.endswith("/chat/completions"):
            self.chat(path, body)
        else:
            self.send_json({"error": {"message": f"no route {path}"}}, 404)


class ScriptedModel(ScriptedServer):
    """Anthropic, OpenAI Responses, Chat Completions and Gemini on one port."""


ScriptedModel.handler = _AnyHandler
