"""A stateful fake GitHub on 127.0.0.1: the REST and GraphQL subset ao's GitHub plugins use.

REST answers carry ETags (weak, over the body) and answer ``If-None-Match`` with 304,
which — as on GitHub — costs no rate limit; every answer carries ``x-ratelimit-*``
headers from a per-resource budget the test can lower. Faults (a 403 secondary limit,
429, 502…) are scripted with ``fail``. GraphQL requests are validated against GitHub's
published schema and then *executed* against it with graphql-core, resolving fields
from this fake's state: a query that does not fit the real schema is answered with
errors and recorded in ``schema_errors`` (the test fixture fails on any).

A repository may be attached to a real bare git repository (``git_dir``): branch heads
are then read from it, deleting a branch deletes the ref there, and, as on GitHub, a
push to an open pull request's branch moves the PR's head commit (and its update time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import subprocess
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.fakegithub_state import (
    CheckRun,
    Comment,
    Fault,
    IssueRec,
    Pull,
    Repo,
    Req,
    Review,
    Status,
    Thread,
    iso,
)

__all__ = ["CheckRun", "Comment", "FakeGitHub", "IssueRec", "Pull", "Repo", "Review", "Thread"]


class FakeGitHub:
    """The fake: ``start()``, seed state with the helpers, point ``AO_GITHUB_API_URL`` at ``url``."""

    def __init__(self, token: str = "test-token", reset_at: int = 1_900_000_000) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[Req] = []
        self.schema_errors: list[str] = []
        self.faults: list[Fault] = []
        self.limits = {"core": [5000, 5000], "graphql": [5000, 5000]}
        self.reset_at = reset_at
        self.lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._tick = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:
                pass

            def _any(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

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
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ seeding

    def repo(self, full_name: str, git_dir: Path | None = None) -> Repo:
        with self.lock:
            if full_name not in self.repos:
                self.repos[full_name] = Repo(full_name, branches={"main": self.sha("main")})
            if git_dir is not None:
                self.repos[full_name].git_dir = git_dir
            return self.repos[full_name]

    def sha(self, seed: str) -> str:
        return hashlib.sha1(f"{seed}:{next(self._ids)}".encode()).hexdigest()

    def tick(self) -> int:
        return next(self._tick)

    def add_pr(
        self,
        repo: str,
        head: str,
        *,
        number: int | None = None,
        sha: str | None = None,
        base: str = "main",
        head_repo: str | None = None,
        **fields: t.Any,
    ) -> Pull:
        with self.lock:
            r = self.repo(repo)
            number = number or max([*r.pulls, *r.issues, 0]) + 1
            sha = sha or self.sha(head)
            if head_repo is None:
                r.branches[head] = sha
            now = self.tick()
            pull = Pull(
                number,
                fields.pop("title", f"PR for {head}"),
                head,
                base,
                sha,
                head_repo or repo,
                now,
                now,
                **fields,
            )
            r.pulls[number] = pull
            return pull

    def touch(self, pull: Pull) -> None:
        pull.updated = self.tick()

    def push(self, repo: str, pull: Pull, sha: str | None = None) -> str:
        """A new head commit on the PR's branch."""
        with self.lock:
            pull.head_sha = sha or self.sha(pull.head)
            self.repos[repo].branches[pull.head] = pull.head_sha
            self.touch(pull)
            return pull.head_sha

    def add_check(
        self,
        repo: str,
        sha: str,
        name: str,
        conclusion: str | None = "success",
        *,
        status: str = "completed",
        app: str = "github-actions",
        log: str | None = None,
        output: dict[str, str] | None = None,
    ) -> CheckRun:
        with self.lock:
            run = CheckRun(
                next(self._ids),
                name,
                status,
                conclusion if status == "completed" else None,
                app,
                output or {},
            )
            self.repo(repo).checks.setdefault(sha, []).append(run)
            if log is not None:
                self.repos[repo].logs[run.id] = log
            return run

    def add_status(
        self, repo: str, sha: str, context: str, state: str, description: str = ""
    ) -> None:
        with self.lock:
            self.repo(repo).statuses.setdefault(sha, []).append(Status(context, state, description))

    def add_thread(
        self,
        pull: Pull,
        path: str,
        line: int | None,
        *comments: tuple[str, str],
        bot: bool = False,
        resolved: bool = False,
    ) -> Thread:
        with self.lock:
            thread = Thread(f"PRRT_{next(self._ids)}", path, line, [
                Comment(f"PRRC_{next(self._ids)}", author, body, path, line, bot=bot)
                for author, body in comments
            ], resolved=resolved)  # fmt: skip
            pull.threads.append(thread)
            self.touch(pull)
            return thread

    def add_review(
        self, pull: Pull, author: str, state: str, body: str = "", bot: bool = False
    ) -> Review:
        with self.lock:
            review = Review(f"PRR_{next(self._ids)}", author, state, body, bot)
            pull.reviews.append(review)
            if state in ("APPROVED", "CHANGES_REQUESTED"):
                pull.review_decision = state
            self.touch(pull)
            return review

    def add_issue(
        self,
        repo: str,
        number: int,
        title: str,
        body: str = "",
        labels: list[str] | None = None,
        **fields: t.Any,
    ) -> IssueRec:
        with self.lock:
            issue = IssueRec(number, title, body, labels or [], **fields)
            self.repo(repo).issues[number] = issue
            return issue

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, t.Any] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests matching answer ``status`` instead."""
        with self.lock:
            self.faults.append(
                Fault(
                    method,
                    re.compile(path_regex),
                    status,
                    headers or {},
                    body or {"message": f"scripted {status}"},
                    times,
                )
            )

    def secondary_limit(
        self, path_regex: str = ".*", retry_after: int = 30, status: int = 403
    ) -> None:
        self.fail("*", path_regex, status, headers={"Retry-After": str(retry_after)}, body={
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        })  # fmt: skip

    # ------------------------------------------------------------------ inspection

    def count(self, method: str | None = None, path: str = "", status: int | None = None) -> int:
        return len([r for r in self.requests if (method is None or r.method == method)
                    and r.path.startswith(path) and (status is None or r.status == status)])  # fmt: skip

    @property
    def graphql_requests(self) -> list[Req]:
        return [r for r in self.requests if r.graphql is not None]

    def branch_sha(self, repo: Repo, branch: str) -> str | None:
        if repo.git_dir is not None:
            r = subprocess.run(
                [
                    "git",
                    "-C",
                    str(repo.git_dir),
                    "rev-parse",
                    "--verify",
                    "-q",
                    f"refs/heads/{branch}",
                ],
                capture_output=True,
                text=True,
            )
            return r.stdout.strip() or None
        return repo.branches.get(branch)

    def sync_pushes(self) -> None:
        """Open PRs of git-backed repositories follow their branch: a push is a new head."""
        with self.lock:
            for repo in self.repos.values():
                if repo.git_dir is None:
                    continue
                out = subprocess.run(
                    ["git", "-C", str(repo.git_dir), "for-each-ref",
                     "--format=%(objectname) %(refname:lstrip=2)", "refs/heads"],
                    capture_output=True, text=True, check=False,
                ).stdout  # fmt: skip
                pairs = (line.split(" ", 1) for line in out.splitlines() if " " in line)
                heads = {ref: sha for sha, ref in pairs}
                for pull in repo.pulls.values():
                    sha = heads.get(pull.head)
                    own = pull.head_repo == repo.full_name
                    if own and pull.state == "open" and sha and sha != pull.head_sha:
                        pull.head_sha = sha
                        self.touch(pull)

    # ------------------------------------------------------------------ HTTP

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path, query = unquote(parts.path), {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        payload = json.loads(raw) if raw else {}
        auth = h.headers.get("Authorization", "")
        req = Req(h.command, path, query, 0, conditional="If-None-Match" in h.headers, auth=auth)
        resource = "graphql" if path == "/graphql" else "core"
        with self.lock:
            if path == "/graphql":
                req.graphql = str(payload.get("query", ""))
            if not path.startswith("/_blobs"):
                self.sync_pushes()
            status, body, extra = self._route(h, path, query, payload, auth, resource)
            etag = None
            if status == 200 and h.command == "GET" and not isinstance(body, str):
                text = json.dumps(body, sort_keys=True)
                etag = 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
                if h.headers.get("If-None-Match") == etag:
                    status, body = 304, None
            limit = self.limits[resource]
            if status not in (304, 401) and not path.startswith("/_blobs"):
                limit[1] = max(limit[1] - 1, 0)
            req.status = status
            self.requests.append(req)
            headers = {
                "x-ratelimit-limit": str(limit[0]), "x-ratelimit-remaining": str(limit[1]),
                "x-ratelimit-reset": str(self.reset_at), "x-ratelimit-resource": resource,
                "x-ratelimit-used": str(limit[0] - limit[1]), **extra,
            }  # fmt: skip
            if etag:
                headers["ETag"] = etag
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _route(
        self,
        h: BaseHTTPRequestHandler,
        path: str,
        query: dict[str, str],
        payload: t.Any,
        auth: str,
        resource: str,
    ) -> tuple[int, t.Any, dict[str, str]]:
        for fault in self.faults:
            if fault.times > 0 and fault.method in ("*", h.command) and fault.pattern.search(path):
                fault.times -= 1
                return fault.status, fault.body, dict(fault.headers)
        if path.startswith("/_blobs/jobs/"):
            job = int(path.rsplit("/", 1)[-1].removesuffix(".txt"))
            for repo in self.repos.values():
                if job in repo.logs:
                    return 200, repo.logs[job], {}
            return 404, {"message": "Not Found"}, {}
        if auth != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        if self.limits[resource][1] <= 0:
            return 403, {"message": "API rate limit exceeded for user."}, {}
        if path == "/graphql" and h.command == "POST":
            return self._graphql(payload)
        m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", path)
        if not m or m.group(1) not in self.repos:
            return 404, {"message": "Not Found"}, {}
        return self._rest(h.command, self.repos[m.group(1)], m.group(2) or "", query, payload)

    # ------------------------------------------------------------------ REST

    def _pull_json(self, repo: Repo, p: Pull) -> dict[str, t.Any]:
        return {
            "number": p.number, "title": p.title, "body": p.body, "draft": p.draft,
            "state": p.state, "merged": p.merged, "merged_at": iso(p.updated) if p.merged else None,
            "html_url": f"https://github.test/{repo.full_name}/pull/{p.number}",
            "head": {"ref": p.head, "sha": p.head_sha, "repo": {"full_name": p.head_repo}},
            "base": {"ref": p.base, "repo": {"full_name": repo.full_name}},
            "created_at": iso(p.created), "updated_at": iso(p.updated),
        }  # fmt: skip

    def _issue_json(self, repo: Repo, i: IssueRec) -> dict[str, t.Any]:
        return {
            "number": i.number, "title": i.title, "body": i.body, "state": i.state,
            "state_reason": i.state_reason, "labels": [{"name": n} for n in i.labels],
            "assignees": [{"login": a} for a in i.assignees],
            "html_url": f"https://github.test/{repo.full_name}/issues/{i.number}",
        }  # fmt: skip

    def _rest(
        self, method: str, repo: Repo, rest: str, query: dict[str, str], payload: t.Any
    ) -> tuple[int, t.Any, dict[str, str]]:
        route = f"{method} {rest}"
        if route == "GET ":
            return 200, {"full_name": repo.full_name, "default_branch": repo.default_branch}, {}
        if route == "GET /pulls":
            pulls = list(repo.pulls.values())
            state = query.get("state", "open")
            if state != "all":
                pulls = [p for p in pulls if p.state == state]
            if "head" in query:
                owner, _, branch = query["head"].partition(":")
                pulls = [
                    p for p in pulls if p.head == branch and p.head_repo.split("/")[0] == owner
                ]
            key = (lambda p: p.updated) if query.get("sort") == "updated" else (lambda p: p.created)
            pulls.sort(key=key, reverse=query.get("direction", "desc") == "desc")
            per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
            return (
                200,
                [self._pull_json(repo, p) for p in pulls[(page - 1) * per_page : page * per_page]],
                {},
            )
        if route == "POST /pulls":
            head, base = payload["head"].split(":")[-1], payload["base"]
            sha = self.branch_sha(repo, head)
            if sha is None:
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"field": "head", "code": "invalid"}],
                    },
                    {},
                )
            if any(p.head == head and p.state == "open" for p in repo.pulls.values()):
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "message": f"A pull request already exists for {repo.full_name.split('/')[0]}:{head}."
                            }
                        ],
                    },
                    {},
                )
            pull = self.add_pr(
                repo.full_name,
                head,
                sha=sha,
                base=base,
                title=payload["title"],
                body=payload.get("body") or "",
                draft=bool(payload.get("draft")),
            )
            return 201, self._pull_json(repo, pull), {}
        if m := re.match(r"^/pulls/(\d+)(/merge)?$", rest):
            found = repo.pulls.get(int(m.group(1)))
            if found is None:
                return 404, {"message": "Not Found"}, {}
            pull = found
            if method == "GET" and not m.group(2):
                return (
                    200,
                    {**self._pull_json(repo, pull), "mergeable": pull.mergeable == "MERGEABLE"},
                    {},
                )
            if method == "PUT" and m.group(2):
                return self._merge(repo, pull, payload)
        if method == "DELETE" and rest.startswith("/git/refs/heads/"):
            branch = rest.removeprefix("/git/refs/heads/")
            if self.branch_sha(repo, branch) is None:
                return 422, {"message": "Reference does not exist"}, {}
            repo.branches.pop(branch, None)
            if repo.git_dir is not None:
                subprocess.run(
                    ["git", "-C", str(repo.git_dir), "update-ref", "-d", f"refs/heads/{branch}"],
                    check=True,
                )
            return 204, None, {}
        if m := re.match(r"^/commits/([0-9a-f]+)/(check-runs|status)$", rest):
            sha = m.group(1)
            if m.group(2) == "check-runs":
                runs = [{"id": c.id, "name": c.name, "status": c.status, "conclusion": c.conclusion,
                         "app": {"slug": c.app}} for c in repo.checks.get(sha, [])]  # fmt: skip
                return 200, {"total_count": len(runs), "check_runs": runs}, {}
            st = repo.statuses.get(sha, [])
            return (
                200,
                {"sha": sha, "state": "success", "statuses": [dataclasses.asdict(s) for s in st]},
                {},
            )
        if method == "GET" and rest.startswith("/branches/"):
            branch = rest.removeprefix("/branches/")
            sha = self.branch_sha(repo, branch)
            if sha is None:
                return 404, {"message": "Branch not found"}, {}
            return 200, {"name": branch, "commit": {"sha": sha}}, {}
        if m := re.match(r"^/actions/jobs/(\d+)/logs$", rest):
            if int(m.group(1)) not in repo.logs:
                return 404, {"message": "Not Found"}, {}
            return 302, None, {"Location": f"{self.url}/_blobs/jobs/{m.group(1)}.txt"}
        if m := re.match(r"^/check-runs/(\d+)$", rest):
            for run in itertools.chain.from_iterable(repo.checks.values()):
                if run.id == int(m.group(1)):
                    return 200, {"id": run.id, "name": run.name, "output": run.output}, {}
            return 404, {"message": "Not Found"}, {}
        return self._issues(method, repo, rest, query, payload)

    def _merge(self, repo: Repo, pull: Pull, payload: t.Any) -> tuple[int, t.Any, dict[str, str]]:
        method = payload.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            return 422, {"message": "Invalid merge_method"}, {}
        if pull.state != "open" or pull.mergeable != "MERGEABLE":
            return 405, {"message": "Pull Request is not mergeable"}, {}
        if payload.get("sha") and payload["sha"] != pull.head_sha:
            return 409, {"message": "Head branch was modified. Review and try the merge again."}, {}
        pull.state, pull.merged, pull.merge_method = "closed", True, method
        self.touch(pull)
        return (
            200,
            {
                "sha": self.sha("merge"),
                "merged": True,
                "message": "Pull Request successfully merged",
            },
            {},
        )

    def _issues(
        self, method: str, repo: Repo, rest: str, query: dict[str, str], payload: t.Any
    ) -> tuple[int, t.Any, dict[str, str]]:
        if method == "GET" and rest == "/issues":
            state = query.get("state", "open")
            labels = [x for x in query.get("labels", "").split(",") if x]

            def wanted(i: IssueRec) -> bool:
                return (state in ("all", i.state) and all(x in i.labels for x in labels)
                        and query.get("assignee", i.assignees[0] if i.assignees else None)
                        in [*i.assignees, None])  # fmt: skip

            items = [
                (i.number, self._issue_json(repo, i)) for i in repo.issues.values() if wanted(i)
            ]
            items += [  # GitHub lists pull requests as issues too
                (p.number, {**self._pull_json(repo, p), "labels": [], "pull_request": {"url": "x"}})
                for p in repo.pulls.values() if state in ("all", p.state) and not labels
            ]  # fmt: skip
            items.sort(key=lambda x: -x[0])
            per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
            return 200, [d for _, d in items[(page - 1) * per_page : page * per_page]], {}
        m = re.match(r"^/issues/(\d+)(/comments|/labels)?$", rest)
        if not m:
            return 404, {"message": "Not Found"}, {}
        number = int(m.group(1))
        if number in repo.pulls and method == "GET" and not m.group(2):
            return (
                200,
                {**self._pull_json(repo, repo.pulls[number]), "pull_request": {"url": "x"}},
                {},
            )
        issue = repo.issues.get(number)
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        if method == "GET" and not m.group(2):
            return 200, self._issue_json(repo, issue), {}
        if method == "POST" and m.group(2) == "/comments":
            issue.comments.append(payload["body"])
            return 201, {"id": next(self._ids), "body": payload["body"]}, {}
        if method == "POST" and m.group(2) == "/labels":
            issue.labels += [x for x in payload["labels"] if x not in issue.labels]
            return 200, [{"name": n} for n in issue.labels], {}
        if method == "PATCH" and not m.group(2):
            issue.state = payload.get("state", issue.state)
            issue.state_reason = payload.get("state_reason")
            return 200, self._issue_json(repo, issue), {}
        return 404, {"message": "Not Found"}, {}

    # ------------------------------------------------------------------ GraphQL

    def _graphql(self, payload: dict[str, t.Any]) -> tuple[int, t.Any, dict[str, str]]:
        from tests.fakes.fakegithub_state import execute

        return execute(self, payload)
