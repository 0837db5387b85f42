"""The fake GitHub's state, and its GraphQL side: validate against the real schema, execute.

Queries are validated with graphql-core against GitHub's published schema (see
``tests/graphql_schema.py``) and executed against that same schema, each field resolved
from the fake's state: a value a field may not hold (a null in a non-null field, an
unknown enum value) is an error here as it would be on GitHub.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t
from pathlib import Path

from tests import graphql_schema

if t.TYPE_CHECKING:
    from tests.fakes.fakegithub import FakeGitHub

EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclasses.dataclass
class CheckRun:
    id: int
    name: str
    status: str = "completed"  # queued | in_progress | completed
    conclusion: str | None = "success"
    app: str = "github-actions"
    output: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Status:
    context: str
    state: str  # success | failure | error | pending
    description: str = ""


@dataclasses.dataclass
class Comment:
    id: str
    author: str
    body: str
    path: str = ""
    line: int | None = None
    bot: bool = False
    minimized: bool = False


@dataclasses.dataclass
class Thread:
    id: str
    path: str
    line: int | None
    comments: list[Comment]
    resolved: bool = False
    outdated: bool = False


@dataclasses.dataclass
class Review:
    id: str
    author: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED
    body: str = ""
    bot: bool = False


@dataclasses.dataclass
class Pull:
    number: int
    title: str
    head: str
    base: str
    head_sha: str
    head_repo: str
    created: int
    updated: int
    body: str = ""
    state: str = "open"  # open | closed
    merged: bool = False
    merge_method: str | None = None
    draft: bool = False
    mergeable: str = "MERGEABLE"  # MERGEABLE | CONFLICTING | UNKNOWN
    merge_state: str = "CLEAN"
    review_decision: str | None = None
    labels: list[str] = dataclasses.field(default_factory=list)
    threads: list[Thread] = dataclasses.field(default_factory=list)
    reviews: list[Review] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class IssueRec:
    number: int
    title: str
    body: str = ""
    labels: list[str] = dataclasses.field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    assignees: list[str] = dataclasses.field(default_factory=list)
    comments: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Repo:
    full_name: str
    default_branch: str = "main"
    branches: dict[str, str] = dataclasses.field(default_factory=dict)
    pulls: dict[int, Pull] = dataclasses.field(default_factory=dict)
    issues: dict[int, IssueRec] = dataclasses.field(default_factory=dict)
    checks: dict[str, list[CheckRun]] = dataclasses.field(default_factory=dict)
    statuses: dict[str, list[Status]] = dataclasses.field(default_factory=dict)
    logs: dict[int, str] = dataclasses.field(default_factory=dict)
    git_dir: Path | None = None


@dataclasses.dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, t.Any]
    times: int


@dataclasses.dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    status: int
    graphql: str | None = None
    conditional: bool = False
    auth: str = ""


def iso(tick: int) -> str:
    return (EPOCH + dt.timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolve(parent: t.Any, info: t.Any, **args: t.Any) -> t.Any:
    value = parent.get(info.field_name) if isinstance(parent, dict) else None
    return value(**args) if callable(value) else value


def _window(
    items: list[t.Any], first: int | None = None, last: int | None = None, **_: t.Any
) -> dict[str, t.Any]:
    if first is not None:
        items = items[:first]
    if last is not None:
        items = items[-last:] if last else []
    return {"nodes": items, "totalCount": len(items)}


def execute(fake: FakeGitHub, payload: dict[str, t.Any]) -> tuple[int, t.Any, dict[str, str]]:
    import graphql

    schema = graphql_schema.load()
    text = str(payload.get("query", ""))
    try:
        document = graphql.parse(text)
    except graphql.GraphQLError as exc:
        fake.schema_errors.append(exc.message)
        return 200, {"errors": [{"message": exc.message}]}, {}
    errors = graphql.validate(schema, document)
    if errors:
        fake.schema_errors += [e.message for e in errors]
        return 200, {"errors": [{"message": e.message} for e in errors]}, {}
    result = graphql.execute(
        schema,
        document,
        root_value=_root(fake),
        variable_values=payload.get("variables") or {},
        field_resolver=_resolve,
    )
    assert not isinstance(result, t.Awaitable)
    out: dict[str, t.Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [{"message": e.message, "type": "NOT_FOUND" if "NOT_FOUND" in e.message else None}
                         for e in result.errors]  # fmt: skip
    return 200, out, {}


def _root(fake: FakeGitHub) -> dict[str, t.Any]:
    limit = fake.limits["graphql"]

    def repository(owner: str, name: str, **_: t.Any) -> t.Any:
        repo = fake.repos.get(f"{owner}/{name}")
        if repo is None:
            raise Exception(
                f"NOT_FOUND: Could not resolve to a Repository with the name '{owner}/{name}'."
            )
        return _repo(fake, repo)

    return {
        "rateLimit": lambda **_: {"cost": 1, "remaining": limit[1], "limit": limit[0],
                                  "used": limit[0] - limit[1], "nodeCount": 0,
                                  "resetAt": dt.datetime.fromtimestamp(fake.reset_at, dt.UTC).isoformat()},
        "repository": repository,
    }  # fmt: skip


def _repo(fake: FakeGitHub, repo: Repo) -> dict[str, t.Any]:
    def pull_requests(headRefName: str | None = None, orderBy: t.Any = None, **kw: t.Any) -> t.Any:
        pulls = [p for p in repo.pulls.values() if headRefName is None or p.head == headRefName]
        field = (orderBy or {}).get("field", "CREATED_AT")
        pulls.sort(
            key=lambda p: p.updated if field == "UPDATED_AT" else p.created,
            reverse=(orderBy or {}).get("direction", "ASC") == "DESC",
        )
        return _window([_pr(fake, repo, p) for p in pulls], **kw)

    return {"nameWithOwner": repo.full_name, "pullRequests": pull_requests}


def _pr(fake: FakeGitHub, repo: Repo, p: Pull) -> dict[str, t.Any]:
    def actor(login: str, bot: bool) -> dict[str, t.Any]:
        return {"__typename": "Bot" if bot else "User", "login": login}

    def commit() -> dict[str, t.Any]:
        runs, statuses = repo.checks.get(p.head_sha, []), repo.statuses.get(p.head_sha, [])
        contexts = [{
            "__typename": "CheckRun", "databaseId": c.id, "name": c.name, "status": c.status.upper(),
            "conclusion": c.conclusion.upper() if c.conclusion else None,
            "detailsUrl": f"https://github.test/{repo.full_name}/actions/runs/1/job/{c.id}",
            "checkSuite": {"app": {"slug": c.app}},
        } for c in runs] + [{
            "__typename": "StatusContext", "context": s.context, "state": s.state.upper(),
            "targetUrl": f"https://ci.test/{s.context}", "description": s.description,
        } for s in statuses]  # fmt: skip
        rollup = {"state": "SUCCESS", "contexts": lambda **kw: _window(contexts, **kw)}
        return {"oid": p.head_sha, "statusCheckRollup": rollup if contexts else None}

    threads = [{
        "id": th.id, "isResolved": th.resolved, "isOutdated": th.outdated, "path": th.path,
        "line": th.line,
        "comments": (lambda cs: lambda **kw: _window(cs, **kw))([{
            "id": c.id, "author": actor(c.author, c.bot), "body": c.body, "path": c.path,
            "line": c.line, "originalLine": c.line, "isMinimized": c.minimized,
        } for c in th.comments]),
    } for th in p.threads]  # fmt: skip
    reviews = [{"id": r.id, "state": r.state, "body": r.body, "author": actor(r.author, r.bot)}
               for r in p.reviews]  # fmt: skip
    return {
        "number": p.number, "url": f"https://github.test/{repo.full_name}/pull/{p.number}",
        "state": "MERGED" if p.merged else p.state.upper(), "isDraft": p.draft,
        "mergeable": p.mergeable, "mergeStateStatus": p.merge_state,
        "reviewDecision": p.review_decision, "headRefName": p.head, "headRefOid": p.head_sha,
        "baseRefName": p.base, "headRepository": {"nameWithOwner": p.head_repo},
        "labels": lambda **kw: _window([{"name": n} for n in p.labels], **kw),
        "commits": lambda **kw: _window([{"commit": commit()}], **kw),
        "reviewThreads": lambda **kw: _window(threads, **kw),
        "latestReviews": lambda **kw: _window(reviews, **kw),
    }  # fmt: skip
