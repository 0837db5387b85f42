"""The scripted model's vocabulary and the threaded HTTP server every wire protocol shares.

A script is a list of ``Step``s. Step *k* answers the request whose conversation already
holds *k* model turns, so a retried request gets the same answer and a resumed
conversation continues where it stopped. Requests that are not part of the conversation
(titles, summaries, quota probes) get a short text and are recorded as auxiliary. Every
response reports usage tokens (``INPUT_TOKENS``/``OUTPUT_TOKENS`` per turn).

One server can hold several conversations (say an orchestrator and its workers, each a
separate CLI process): ``route(marker, *steps)`` gives the conversations whose request
body holds ``marker`` a script of their own; the rest use the default ``script()``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INPUT_TOKENS = 120
OUTPUT_TOKENS = 30
DEFAULT_REPLY = "Hello from the fake model."
AUX_REPLY = "Fake title"
BAD_REQUEST = "Invalid request: the scripted model refuses this request."

StepKind = t.Literal["text", "write", "shell", "ask", "tool", "error"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One model turn: a reply, a tool call, or an HTTP error (after ``delay`` seconds)."""

    kind: StepKind
    text: str = ""
    path: str = ""  # write: file path relative to the CLI's working directory
    content: str = ""
    command: str = ""  # shell
    name: str = ""  # tool: the tool's name as the CLI offers it
    args: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)  # tool: its input
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


def tool(name: str, input: t.Mapping[str, t.Any], *, delay: float = 0.0) -> Step:
    """Ask the CLI to call its tool ``name`` with ``input`` (JSON-able), e.g. an MCP tool.

    ``name`` is what the CLI offers the model: Claude Code names an MCP server's tool
    ``mcp__<server>__<tool>``. Codex offers an MCP server's tools as a ``namespace`` tool
    ``mcp__<server>`` of functions; ``mcp__<server>__<tool>`` here becomes a call to
    ``<tool>`` in that namespace, as Codex requires.
    """
    return Step("tool", name=name, args=dict(input), delay=delay)


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


def bad_request(message: str = "") -> Step:
    """HTTP 400 in the vendor's invalid-request shape: an error no retry can fix."""
    return Step("error", status=400, text=message)


def model_not_found() -> Step:
    """HTTP 404 in the vendor's shape for a model that does not exist (not retried)."""
    return Step("error", status=404)


def usage_limit(resets_in: float = 3600.0) -> Step:
    """HTTP 429 in the vendor's usage-limit shape, resetting ``resets_in`` seconds from now."""
    return Step("error", status=429, body={"resets_at": int(time.time() + resets_in)})


@dataclasses.dataclass(frozen=True)
class Request:
    """A request the server received."""

    api: str  # anthropic | openai | chat | gemini
    path: str
    body: dict[str, t.Any]
    position: int  # model turns already in the conversation (-1: auxiliary request)
    route: str | None = None  # the marker of the route that answered (None: default script)

    @property
    def main(self) -> bool:
        """Part of the conversation (not a title/summary/quota request)."""
        return self.position >= 0

    def text(self) -> str:
        """The whole body as JSON text, for substring assertions."""
        return json.dumps(self.body)


class _Any(enum.Enum):
    ANY = "any"


ANY_ROUTE: t.Final = _Any.ANY  # main_requests()/turns_served(): every conversation


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 that answers from a script of ``Step``s.

    Start with ``Server().start()`` (a free port, a daemon thread), stop with ``close()``.
    Subclasses set ``handler`` to the request handler that speaks their wire protocol.
    """

    handler: t.ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self, steps: t.Sequence[Step] = ()) -> None:
        self.steps: list[Step] = list(steps)
        self.routes: dict[str, list[Step]] = {}  # marker -> script, first match wins
        self.requests: list[Request] = []
        self.sent: set[str] = set()  # reply texts given so far (to recognise them later)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> t.Self:
        """Serve on a free port of 127.0.0.1 in a daemon thread."""
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
            self._server = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (OpenAI-style clients add ``/v1``)."""
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``…/v1``)."""
        return self.url + "/v1"

    def script(self, *steps: Step) -> None:
        """Replace the script (step k answers the request with k model turns so far)."""
        with self._lock:
            self.steps = list(steps)

    def route(self, marker: str, *steps: Step) -> None:
        """Answer conversations whose request body holds ``marker`` from ``steps``.

        Step k answers the request with k model turns so far, as in ``script()``. The
        first route (in the order routes were added) whose marker a request's body holds
        answers it; routing the same marker again replaces its script in place. A body is
        matched as JSON text (``json.dumps``, with and without ASCII escapes). Mind that a
        conversation may quote another's marker (an orchestrator that hands a worker its
        task holds the worker's marker from then on): add the quoting one's route first.
        """
        with self._lock:
            self.routes[marker] = list(steps)

    def route_for(self, body: t.Mapping[str, t.Any] | str) -> str | None:
        """The marker of the first route whose marker ``body`` holds, or None (default)."""
        with self._lock:
            markers = list(self.routes)
        if not markers:
            return None
        texts = _texts(body)
        return next((m for m in markers if any(m in text_ for text_ in texts)), None)

    def step_for(self, position: int, body: t.Mapping[str, t.Any] | str | None = None) -> Step:
        """The step for a conversation position (a plain reply past the script's end).

        With ``body`` (the request), the script is the route's that matches it, if any.
        """
        route = self.route_for(body) if body is not None else None
        return self._step(position, route)

    def answer(self, api: str, path: str, body: dict[str, t.Any], position: int) -> Step:
        """Record a main request (``position`` ≥ 0) and return its step, routed by its body."""
        route = self.route_for(body)
        self.record(Request(api, path, body, position, route))
        return self._step(position, route)

    def _step(self, position: int, route: str | None) -> Step:
        with self._lock:
            steps = self.steps if route is None else self.routes.get(route, [])
            if 0 <= position < len(steps):
                return steps[position]
        return text(DEFAULT_REPLY)

    def record(self, req: Request) -> None:
        """Remember a request."""
        with self._lock:
            self.requests.append(req)

    def main_requests(self, route: str | _Any | None = ANY_ROUTE) -> list[Request]:
        """Requests that were part of a conversation, oldest first.

        ``route``: only those a route answered (its marker; None: the default script).
        """
        with self._lock:
            return [r for r in self.requests if r.main and (route is ANY_ROUTE or r.route == route)]

    def turns_served(self, route: str | _Any | None = ANY_ROUTE) -> int:
        """Highest conversation position answered so far, plus one (of ``route``'s, if given)."""
        return max((r.position + 1 for r in self.main_requests(route)), default=0)


def _texts(body: t.Mapping[str, t.Any] | str) -> tuple[str, ...]:
    """A request body as the JSON texts a marker is looked for in."""
    if isinstance(body, str):
        return (body,)
    try:
        return (json.dumps(body), json.dumps(body, ensure_ascii=False))
    except (TypeError, ValueError):
        return (str(body),)


class JsonHandler(BaseHTTPRequestHandler):
    """Request plumbing shared by the protocols: JSON bodies, JSON replies, SSE events."""

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

    def sse(self, data: object, event: str | None = None) -> None:
        """One SSE event: ``data`` as JSON (a string is sent as is), named ``event`` if given."""
        payload = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {event}\n" if event else ""
        self.wfile.write(f"{head}data: {payload}\n\n".encode())
        self.wfile.flush()

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def wait(self, step: Step) -> None:
        """Hold the response for the step's delay (the CLI sees a busy model)."""
        if step.delay:
            time.sleep(step.delay)


def find_cwd(text_: str, patterns: t.Sequence[re.Pattern[str]]) -> str:
    """The working directory a CLI names in its prompt (first pattern that matches), or ``.``."""
    for pattern in patterns:
        found = pattern.search(text_)
        if found:
            return found.group(1)
    return "."


def join(cwd: str, path: str) -> str:
    """``path`` made absolute under ``cwd`` (absolute paths are kept)."""
    return path if path.startswith("/") else f"{cwd.rstrip('/')}/{path}"


def quote(value: str) -> str:
    """``value`` single-quoted for sh."""
    return "'" + value.replace("'", "'\\''") + "'"


def write_command(step: Step) -> str:
    """A shell command that writes a ``write`` step's content to its path."""
    return f"printf '%s' {quote(step.content)} > {quote(step.path)}"
