"""Who may call what: the token, the ``Host`` and ``Origin`` checks, the body size.

Every request passes ``Guard`` (an ASGI middleware, so the terminal websockets of a later
version pass it too) before any route runs:

1. ``Host`` must name the address the server is bound to, ``localhost``, ``127.0.0.1`` or
   ``[::1]`` (with the server's port when a port is given): a page on another site whose
   name was made to resolve to 127.0.0.1 (DNS rebinding) is refused. A wildcard bind
   (``0.0.0.0``) accepts any name, since it needs the token for everything.
2. An ``Origin`` other than the server's own is refused: no cross-site request, and no
   CORS headers are ever sent.
3. The token (``Authorization: Bearer …`` or the ``ao_token`` cookie that
   ``GET /?token=…`` sets) is required for every request that changes state, every
   websocket, and every request of a server bound to anything but loopback. A token that
   is given and wrong is refused even where none is needed.
4. A body larger than ``MAX_BODY`` is refused (413) as it arrives.

The token is compared in constant time and never written to a response or a log.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import typing as t
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser

from ao.web.errors import AUTH, USAGE, error_response

if t.TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "ao_token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# a task or message is at most 1 MB (ao.session.inputs); JSON may escape each byte as \u00XX
MAX_BODY = 8 * 1024 * 1024
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class BodyTooLarge(HTTPException):
    """A request body grew past ``MAX_BODY``: 413. An ``HTTPException``, since FastAPI
    passes those on from reading a body (any other error there becomes a 400)."""

    def __init__(self) -> None:
        super().__init__(413, f"the body is larger than {MAX_BODY} bytes")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def is_wildcard(host: str) -> bool:
    """Whether binding ``host`` listens on every address (``0.0.0.0``, ``::``)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """``(name, port)`` of a ``Host`` header value (``[::1]:3000`` → ``("::1", 3000)``);
    the port is -1 when it is not a number."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:
        name, port_text = value, ""
    if not port_text:
        return name, None
    return name, int(port_text) if port_text.isdigit() else -1


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the server accepts: its token and the address it is bound to."""

    token: str = dataclasses.field(repr=False)
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Whether the server serves this machine only (then reads need no token)."""
        return is_loopback(self.host)

    def host_allowed(self, header: str) -> bool:
        """Whether a ``Host`` header names this server (see the module's docstring)."""
        name, port = split_host(header)
        if port is not None and port != self.port:
            return False
        if is_wildcard(self.host):
            return bool(name)
        return name in LOOPBACK_NAMES or name == self.host.strip("[]").lower()

    def same_origin(self, origin: str, host_header: str) -> bool:
        """Whether ``Origin`` is this server's own (as the browser reached it)."""
        return origin.strip().lower() == f"http://{host_header.strip().lower()}"

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` is the token (constant time)."""
        return hmac.compare_digest(given.encode(), self.token.encode())


def given_token(scope: Scope, headers: Headers) -> str | None:
    """The token a request carries: ``?token=`` on ``GET /`` (which turns it into the
    cookie), else ``Authorization: Bearer``, else the cookie."""
    if scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path") == "/":
        raw: bytes = scope.get("query_string", b"")
        query = parse_qs(raw.decode("latin-1"))
        if "token" in query:
            return query["token"][-1]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie: str = cookie_parser(headers.get("cookie", "")).get(COOKIE, "")
    return cookie or None


class Guard:
    """The ASGI middleware that applies the ``Policy`` to every request."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or pass it on with its body size bounded."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope, Headers(scope=scope))
        if refusal is not None:
            await self._refuse(scope, receive, send, *refusal)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise BodyTooLarge
            return message

        await self.app(scope, bounded, send)

    def check(self, scope: Scope, headers: Headers) -> tuple[int, int, str, str] | None:
        """``(status, code, message, hint)`` of a refusal, or None to let it through."""
        policy = self.policy
        host = headers.get("host", "")
        if not policy.host_allowed(host):
            return (
                403, AUTH, "this server does not answer to that Host name",
                f"open it as http://127.0.0.1:{policy.port} (or the address it is bound to)",
            )  # fmt: skip
        origin = headers.get("origin")
        if origin is not None and not policy.same_origin(origin, host):
            return 403, AUTH, "cross-site requests are refused", "call it from its own page"
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        token = given_token(scope, headers)
        hint = "send `Authorization: Bearer <the token in $AO_HOME/dashboard.token>`"
        if token is not None and not policy.token_matches(token):
            return 401, AUTH, "wrong dashboard token", hint
        needed = method not in SAFE_METHODS or not policy.loopback
        if token is None and needed:
            what = "this request" if policy.loopback else "every request to a non-loopback bind"
            return 401, AUTH, f"{what} needs the dashboard token", hint
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return 413, USAGE, f"the body is larger than {MAX_BODY} bytes", ""
        return None

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, code: int, message: str,
        hint: str,
    ) -> None:  # fmt: skip
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accepting answers 403
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await error_response(status, code, message, hint, headers)(scope, receive, send)
