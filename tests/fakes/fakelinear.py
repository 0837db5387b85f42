"""A stateful fake Linear on 127.0.0.1: its GraphQL endpoint, over real HTTP.

Every document is validated against Linear's published schema (``tests.linear_schema``),
its variables coerced against the schema's input types, and then *executed* with
graphql-core, resolving root fields (``issue``, ``issues``, ``teams``, ``team``,
``issueLabels``, ``viewer``, ``commentCreate``, ``issueUpdate``) from in-memory teams,
workflow states, labels, users, issues and comments. A document or variables that do
not fit the schema are answered as Linear does (HTTP 400, ``GRAPHQL_VALIDATION_FAILED``)
and recorded in ``schema_errors``; the test fixture fails on any. Filters are evaluated
for real (comparators, ``and``/``or``, ``some``/``every``, ``null``, ``isMe``); a filter
field the fake does not know raises instead of matching silently.

Answers carry Linear's rate-limit headers (``X-RateLimit-Requests-*``, reset in epoch
milliseconds, and ``X-RateLimit-Complexity-*``); an exhausted budget answers 400 with
``RATELIMITED``, and ``throttle``/``fail`` script 429s and other faults.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import threading
import typing as t
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests import linear_schema

DEFAULT_STATES = [("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"),
                  ("In Review", "started"), ("Done", "completed"), ("Canceled", "canceled"),
                  ("Duplicate", "canceled")]  # fmt: skip
COMPARATORS = {"eq", "neq", "in", "nin", "eqIgnoreCase", "neqIgnoreCase", "contains",
               "containsIgnoreCase", "startsWith", "endsWith"}  # fmt: skip


def _id() -> str:
    return str(uuid.uuid4())


def slug(title: str) -> str:
    """Linear-style title slug."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-")


@dataclasses.dataclass
class State:
    id: str
    name: str
    type: str
    position: float


@dataclasses.dataclass
class Team:
    id: str
    key: str
    name: str
    states: list[State]


@dataclasses.dataclass
class Label:
    id: str
    name: str
    team: Team | None = None
    is_group: bool = False


@dataclasses.dataclass
class User:
    id: str
    name: str
    display_name: str
    email: str


@dataclasses.dataclass
class IssueRec:
    id: str
    team: Team
    number: int
    title: str
    description: str | None
    state: State
    labels: list[Label]
    created: int
    assignee: User | None = None
    branch_name: str | None = None  # None: Linear's default format
    comments: list[str] = dataclasses.field(default_factory=list)
    former: list[str] = dataclasses.field(default_factory=list)  # identifiers before a move

    @property
    def identifier(self) -> str:
        return f"{self.team.key}-{self.number}"


@dataclasses.dataclass
class Req:
    operation: str
    variables: dict[str, t.Any]
    status: int
    auth: str


@dataclasses.dataclass
class Fault:
    status: int
    body: dict[str, t.Any]
    headers: dict[str, str]
    times: int
    operation: str | None


class Unsupported(Exception):
    """A filter or argument this fake does not implement (fails the test loudly)."""


def _gql_error(message: str, kind: str, code: str, presentable: str | None = None) -> t.Any:
    import graphql

    return graphql.GraphQLError(message, extensions={
        "type": kind, "code": code, "userError": kind in ("invalid input", "user error"),
        "userPresentableMessage": presentable or message})  # fmt: skip


class FakeLinear:
    """The fake: ``start()``, seed it with the helpers, point ``AO_LINEAR_API_URL`` at ``url``."""

    def __init__(self, token: str = "lin_api_fake0123456789", workspace: str = "acme") -> None:
        self.token = token
        self.oauth_token = "lin_oauth_fake0123456789"
        self.workspace = workspace
        self.teams: dict[str, Team] = {}
        self.labels: list[Label] = []
        self.users: list[User] = []
        self.issues: list[IssueRec] = []
        self.requests: list[Req] = []
        self.schema_errors: list[str] = []
        self.faults: list[Fault] = []
        self.requests_limit = 1500
        self.requests_remaining = 1500
        self.reset_ms = 1_900_000_000_000
        self.lock = threading.RLock()
        self._tick = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self.viewer = self.add_user("Alice Liddell", "alice", "alice@example.com")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeLinear:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._reply(self, 404, {"errors": [{"message": "Not found"}]}, {})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """The GraphQL endpoint."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql"

    # ------------------------------------------------------------------ seeding

    def add_team(self, key: str, name: str | None = None) -> Team:
        with self.lock:
            states = [State(_id(), n, kind, float(i)) for i, (n, kind) in enumerate(DEFAULT_STATES)]
            team = Team(_id(), key, name or f"{key} team", states)
            self.teams[key] = team
            return team

    def add_label(self, name: str, team: str | None = None, *, group: bool = False) -> Label:
        with self.lock:
            label = Label(_id(), name, self.team(team) if team else None, group)
            self.labels.append(label)
            return label

    def add_user(self, name: str, display_name: str, email: str) -> User:
        with self.lock:
            user = User(_id(), name, display_name, email)
            self.users.append(user)
            return user

    def add_issue(
        self,
        team: str,
        title: str,
        description: str | None = "",
        *,
        labels: t.Sequence[str] = (),
        state: str = "Todo",
        number: int | None = None,
        assignee: User | None = None,
        branch_name: str | None = None,
    ) -> IssueRec:
        with self.lock:
            tm = self.team(team)
            number = number or max([i.number for i in self.issues if i.team is tm] + [0]) + 1
            wanted = [self.label(name, team) for name in labels]
            rec = IssueRec(_id(), tm, number, title, description, self.state(team, state), wanted,
                           next(self._tick), assignee, branch_name)  # fmt: skip
            self.issues.append(rec)
            return rec

    def team(self, key: str) -> Team:
        """The team ``key`` (created with Linear's default workflow when missing)."""
        return self.teams.get(key) or self.add_team(key)

    def label(self, name: str, team: str | None = None) -> Label:
        """The label ``name`` usable in ``team`` (created in the team when missing)."""
        for lb in self.labels:
            if lb.name == name and (lb.team is None or (team and lb.team.key == team)):
                return lb
        return self.add_label(name, team)

    def state(self, team: str, name: str) -> State:
        return next(s for s in self.teams[team].states if s.name == name)

    def issue(self, identifier: str) -> IssueRec:
        return next(i for i in self.issues if i.identifier == identifier)

    def throttle(self, times: int = 1, *, status: int = 429, retry_after: int | None = None,
                 reset_in: float | None = None, exhausted: bool = True,
                 operation: str | None = None) -> None:  # fmt: skip
        """The next ``times`` requests are refused as rate limited (``RATELIMITED``).

        ``exhausted``: the answer says no requests remain (else it gives no hint).
        """
        headers = {"X-RateLimit-Requests-Remaining": "0"} if exhausted else {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if reset_in is not None:
            headers["X-RateLimit-Requests-Reset"] = str(int(self.reset_ms + reset_in * 1000))
        self.fail(status, [{"message": "Rate limit exceeded", "extensions": {
            "type": "ratelimited", "code": "RATELIMITED", "statusCode": 429,
            "userPresentableMessage": "Too many requests, please try again later."}}],
            times=times, headers=headers, operation=operation)  # fmt: skip

    def fail(self, status: int, errors: list[dict[str, t.Any]] | None = None, *, times: int = 1,
             headers: dict[str, str] | None = None, operation: str | None = None) -> None:  # fmt: skip
        """The next ``times`` requests (of ``operation``, if given) answer ``status``."""
        body = {"errors": errors or [{"message": f"scripted {status}"}]}
        with self.lock:
            self.faults.append(Fault(status, body, headers or {}, times, operation))

    def operations(self) -> list[str]:
        return [r.operation for r in self.requests]

    # ------------------------------------------------------------------ HTTP

    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: t.Any,
               headers: dict[str, str]) -> None:  # fmt: skip
        data = json.dumps(body).encode()
        h.send_response(status)
        for k, v in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        payload = json.loads(h.rfile.read(length) or b"{}")
        auth = h.headers.get("Authorization", "")
        query, variables = str(payload.get("query") or ""), payload.get("variables") or {}
        named = re.search(r"\b(?:query|mutation)\s+(\w+)", query)
        op = named.group(1) if named else "?"
        extra: dict[str, str]
        with self.lock:
            if h.path != "/graphql":
                status, body, extra = 404, {"errors": [{"message": "Not found"}]}, {}
            else:
                status, body, extra = self._route(op, query, variables, auth)
            self.requests.append(Req(op, variables, status, auth))
            headers = {
                "X-RateLimit-Requests-Limit": str(self.requests_limit),
                "X-RateLimit-Requests-Remaining": str(self.requests_remaining),
                "X-RateLimit-Requests-Reset": str(self.reset_ms),
                "X-RateLimit-Complexity-Limit": "250000", "X-Complexity": "12",
                "X-RateLimit-Complexity-Remaining": "249988",
                "X-RateLimit-Complexity-Reset": str(self.reset_ms), **extra,
            }  # fmt: skip
        self._reply(h, status, body, headers)

    def _route(self, op: str, query: str, variables: dict[str, t.Any],
               auth: str) -> tuple[int, t.Any, dict[str, str]]:  # fmt: skip
        for fault in self.faults:
            if fault.times > 0 and fault.operation in (None, op):
                fault.times -= 1
                return fault.status, fault.body, dict(fault.headers)
        if auth not in (self.token, f"Bearer {self.oauth_token}"):
            return 400, {"errors": [{"message": "Authentication required, not authenticated",
                                     "extensions": {"type": "authentication error",
                                                    "code": "AUTHENTICATION_ERROR",
                                                    "userPresentableMessage":
                                                    "You need to authenticate to access this operation."}}]}, {}  # fmt: skip
        if self.requests_remaining <= 0:
            return 400, {"errors": [{"message": "Rate limit exceeded", "extensions": {
                "type": "ratelimited", "code": "RATELIMITED"}}]}, {}  # fmt: skip
        self.requests_remaining -= 1
        problems = linear_schema.validate(query)
        if not problems:
            problems = linear_schema.validate_variables(query, variables)
        if problems:
            self.schema_errors += problems
            return 400, {"errors": [{"message": m, "extensions": {
                "type": "graphql error", "code": "GRAPHQL_VALIDATION_FAILED"}} for m in problems]}, {}  # fmt: skip
        return self._execute(query, variables)

    # ------------------------------------------------------------------ GraphQL

    def _execute(
        self, query: str, variables: dict[str, t.Any]
    ) -> tuple[int, t.Any, dict[str, str]]:
        import graphql

        result = graphql.execute(
            linear_schema.load(), graphql.parse(query), root_value=self._root(),
            variable_values=variables, field_resolver=_resolve,
        )  # fmt: skip
        assert not isinstance(result, t.Awaitable)
        out: dict[str, t.Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
            unsupported = [e.message for e in result.errors if e.original_error
                           and isinstance(e.original_error, (Unsupported, AssertionError))]  # fmt: skip
            self.schema_errors += unsupported
        return 200, out, {}

    def _root(self) -> dict[str, t.Any]:
        def issue(id: str) -> t.Any:
            for rec in self.issues:
                if id.upper() in (rec.id.upper(), rec.identifier, *rec.former):
                    return self._issue(rec)
            raise _gql_error("Entity not found: Issue", "invalid input", "INPUT_ERROR",
                             "Could not find referenced Issue.")  # fmt: skip

        def issues(filter: t.Any = None, orderBy: str = "createdAt", **kw: t.Any) -> t.Any:
            found = [r for r in self.issues if _match(self._issue_view(r), filter or {})]
            found.sort(key=lambda r: r.created, reverse=True)  # createdAt/updatedAt: newest first
            return _window([self._issue(r) for r in found], **kw)

        def teams(filter: t.Any = None, **kw: t.Any) -> t.Any:
            found = [self._team(tm) for tm in self.teams.values()
                     if _match(self._team_view(tm), filter or {})]  # fmt: skip
            return _window(found, **kw)

        def team(id: str) -> t.Any:
            for tm in self.teams.values():
                if tm.id == id:
                    return self._team(tm)
            raise _gql_error("Entity not found: Team", "invalid input", "INPUT_ERROR")

        def issue_labels(filter: t.Any = None, **kw: t.Any) -> t.Any:
            found = [lb for lb in self.labels if _match(self._label_view(lb), filter or {})]
            return _window([self._label(lb) for lb in found], **kw)

        def comment_create(input: dict[str, t.Any]) -> t.Any:
            rec = next((r for r in self.issues if r.id == input.get("issueId")), None)
            if rec is None:
                raise _gql_error("Entity not found: Issue", "invalid input", "INPUT_ERROR")
            rec.comments.append(str(input.get("body") or ""))
            return {"success": True, "lastSyncId": 1.0,
                    "comment": {"id": _id(), "body": input.get("body")}}  # fmt: skip

        def issue_update(id: str, input: dict[str, t.Any]) -> t.Any:
            rec = next((r for r in self.issues if id in (r.id, r.identifier)), None)
            if rec is None:
                raise _gql_error("Entity not found: Issue", "invalid input", "INPUT_ERROR")
            unknown = set(input) - {"stateId", "addedLabelIds", "removedLabelIds", "labelIds",
                                    "title", "description"}  # fmt: skip
            if unknown:
                raise Unsupported(f"issueUpdate input {sorted(unknown)}")
            if "stateId" in input:
                state = next((s for s in rec.team.states if s.id == input["stateId"]), None)
                if state is None:
                    raise _gql_error("Entity not found: WorkflowState", "invalid input",
                                     "INPUT_ERROR")  # fmt: skip
                rec.state = state
            by_id = {lb.id: lb for lb in self.labels}
            wanted = [*input.get("labelIds", []), *input.get("addedLabelIds", [])]
            if any(x not in by_id or by_id[x].is_group for x in wanted):
                raise _gql_error("Entity not found: IssueLabel", "invalid input", "INPUT_ERROR")
            if "labelIds" in input:
                rec.labels = [by_id[x] for x in input["labelIds"]]
            rec.labels += [by_id[x] for x in input.get("addedLabelIds", [])
                           if by_id[x] not in rec.labels]  # fmt: skip
            removed = set(input.get("removedLabelIds", []))
            rec.labels = [lb for lb in rec.labels if lb.id not in removed]
            for key in ("title", "description"):
                if key in input:
                    setattr(rec, key, input[key])
            return {"success": True, "lastSyncId": 2.0, "issue": self._issue(rec)}

        return {"issue": issue, "issues": issues, "teams": teams, "team": team,
                "issueLabels": issue_labels, "viewer": lambda: self._user(self.viewer),
                "commentCreate": comment_create, "issueUpdate": issue_update}  # fmt: skip

    # objects as the schema shapes them (callables take the field's arguments)

    def _issue(self, r: IssueRec) -> dict[str, t.Any]:
        branch = (
            r.branch_name or f"{self.viewer.display_name}/{r.identifier.lower()}-{slug(r.title)}"
        )
        return {
            "id": r.id, "identifier": r.identifier, "number": float(r.number), "title": r.title,
            "description": r.description, "branchName": branch, "priority": 0.0,
            "url": f"https://linear.app/{self.workspace}/issue/{r.identifier}/{slug(r.title)}",
            "state": self._state(r.state, r.team), "team": self._team(r.team),
            "assignee": self._user(r.assignee) if r.assignee else None,
            "labels": lambda **kw: _window([self._label(lb) for lb in r.labels], **kw),
            "labelIds": [lb.id for lb in r.labels],
        }  # fmt: skip

    def _team(self, tm: Team) -> dict[str, t.Any]:
        return {"id": tm.id, "key": tm.key, "name": tm.name,
                "states": lambda **kw: _window([self._state(s, tm) for s in tm.states], **kw)}  # fmt: skip

    def _state(self, s: State, tm: Team) -> dict[str, t.Any]:
        return {"id": s.id, "name": s.name, "type": s.type, "position": s.position,
                "color": "#000000", "team": lambda: self._team(tm)}  # fmt: skip

    def _label(self, lb: Label) -> dict[str, t.Any]:
        return {"id": lb.id, "name": lb.name, "isGroup": lb.is_group, "color": "#ff0000",
                "team": self._team(lb.team) if lb.team else None}  # fmt: skip

    def _user(self, u: User) -> dict[str, t.Any]:
        return {"id": u.id, "name": u.name, "displayName": u.display_name, "email": u.email,
                "active": True}  # fmt: skip

    # views for filters: the fields a filter may test

    def _team_view(self, tm: Team) -> dict[str, t.Any]:
        return {"id": tm.id, "key": tm.key, "name": tm.name}

    def _label_view(self, lb: Label) -> dict[str, t.Any]:
        return {"id": lb.id, "name": lb.name, "isGroup": lb.is_group,
                "team": self._team_view(lb.team) if lb.team else None}  # fmt: skip

    def _issue_view(self, r: IssueRec) -> dict[str, t.Any]:
        u = r.assignee
        return {
            "id": r.id, "number": r.number, "title": r.title, "team": self._team_view(r.team),
            "state": {"id": r.state.id, "name": r.state.name, "type": r.state.type},
            "labels": [self._label_view(lb) for lb in r.labels],
            "assignee": {"id": u.id, "name": u.name, "displayName": u.display_name,
                         "email": u.email, "isMe": u is self.viewer} if u else None,
        }  # fmt: skip


def _resolve(parent: t.Any, info: t.Any, **args: t.Any) -> t.Any:
    value = parent.get(info.field_name) if isinstance(parent, dict) else None
    return value(**args) if callable(value) else value


def _window(items: list[t.Any], first: int | None = None, after: str | None = None,
            last: int | None = None, before: str | None = None, **_: t.Any) -> dict[str, t.Any]:  # fmt: skip
    """A connection page: ``first`` items after cursor ``after`` (Linear allows 250 a page)."""
    if last is not None or before is not None:
        raise Unsupported("backward pagination")
    if first is not None and not 0 < first <= 250:
        raise _gql_error("Argument first must be between 1 and 250", "invalid input",
                         "INPUT_ERROR")  # fmt: skip
    start = int(after.removeprefix("c")) if after else 0
    size = first or 50
    page = items[start : start + size]
    end = start + len(page)
    return {"nodes": page, "pageInfo": {
        "hasNextPage": end < len(items), "hasPreviousPage": start > 0,
        "startCursor": f"c{start}" if page else None, "endCursor": f"c{end}" if page else None}}  # fmt: skip


def _compare(value: t.Any, cond: dict[str, t.Any]) -> bool:
    """A scalar comparator (``StringComparator``, ``BooleanComparator``…)."""
    low = str(value).lower() if value is not None else None
    tests: dict[str, t.Callable[[t.Any], bool]] = {
        "eq": lambda x: value == x, "neq": lambda x: value != x,
        "in": lambda x: value in x, "nin": lambda x: value not in x,
        "eqIgnoreCase": lambda x: low == str(x).lower(),
        "neqIgnoreCase": lambda x: low != str(x).lower(),
        "contains": lambda x: x in str(value or ""),
        "containsIgnoreCase": lambda x: str(x).lower() in (low or ""),
        "startsWith": lambda x: str(value or "").startswith(x),
        "endsWith": lambda x: str(value or "").endswith(x),
    }  # fmt: skip
    unknown = set(cond) - set(tests)
    if unknown:
        raise Unsupported(f"comparator {sorted(unknown)}")
    return all(tests[op](x) for op, x in cond.items())


def _match(view: dict[str, t.Any] | None, flt: dict[str, t.Any]) -> bool:
    """Whether an entity (a view dict, or None when absent) passes a Linear filter."""
    if "null" in flt and (view is None) != bool(flt["null"]):
        return False
    rest = {k: v for k, v in flt.items() if k != "null"}
    if view is None:
        return not rest
    for key, cond in rest.items():
        if key == "and":
            ok = all(_match(view, c) for c in cond)
        elif key == "or":
            ok = any(_match(view, c) for c in cond)
        elif key not in view:
            raise Unsupported(f"filter field {key!r}")
        elif isinstance(view[key], list):
            ok = _collection(view[key], cond)
        elif isinstance(view[key], dict) or (view[key] is None and not set(cond) & COMPARATORS):
            ok = _match(view[key], cond)
        else:
            ok = _compare(view[key], cond)
        if not ok:
            return False
    return True


def _collection(items: list[dict[str, t.Any]], flt: dict[str, t.Any]) -> bool:
    """A collection filter (``IssueLabelCollectionFilter``…): ``some``, ``every``, ``and``…"""
    for key, cond in flt.items():
        if key == "some":
            ok = any(_match(i, cond) for i in items)
        elif key == "every":
            ok = all(_match(i, cond) for i in items)
        elif key == "and":
            ok = all(_collection(items, c) for c in cond)
        elif key == "or":
            ok = any(_collection(items, c) for c in cond)
        elif key == "length":
            ok = _compare(len(items), cond)
        else:
            raise Unsupported(f"collection filter {key!r}")
        if not ok:
            return False
    return True
