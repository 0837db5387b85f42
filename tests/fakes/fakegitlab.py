"""A stateful fake GitLab on 127.0.0.1: the REST v4 subset ao's GitLab plugins use.

Real HTTP (a threading ``http.server``). JSON answers to GETs carry weak ETags over the
body and answer ``If-None-Match`` with 304; list answers carry GitLab's pagination
headers (``X-Next-Page``…) and every answer ``RateLimit-*`` headers. Faults (429 with
``Retry-After``, 502…) are scripted with ``fail``. Every request is recorded. Each route
declares the query parameters and body keys it accepts, with their allowed values: an
unknown parameter or a bad value is answered 400 *and* recorded in ``bad_requests``
(the test fixture fails on any), so a plugin sending a wrong call cannot pass.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes import fakegitlab_state as st
from tests.fakes.fakegitlab_state import (
    MR,
    Discussion,
    Fault,
    IssueRec,
    Job,
    Note,
    Pipeline,
    Project,
    Req,
)

__all__ = ["MR", "Discussion", "FakeGitLab", "IssueRec", "Job", "Note", "Pipeline", "Project"]

Answer = tuple[int, t.Any, dict[str, str]]
ANY = None  # a parameter that takes any value
BOOL = ("true", "false")
PAGING: dict[str, t.Any] = {"per_page": "int:1-100", "page": "int:1-"}
# route name -> (allowed query params with allowed values, allowed body keys)
SPEC: dict[str, tuple[dict[str, t.Any], set[str]]] = {
    "GET mrs": ({"state": ("opened", "closed", "locked", "merged", "all"),
                 "order_by": ("created_at", "updated_at", "title"), "sort": ("asc", "desc"),
                 "source_branch": ANY, **PAGING}, set()),
    "POST mrs": ({}, {"source_branch", "target_branch", "title", "description",
                      "remove_source_branch", "labels", "squash"}),
    "GET mr": ({"include_rebase_in_progress": BOOL, "include_diverged_commits_count": BOOL}, set()),
    "GET approvals": ({}, set()),
    "GET discussions": (dict(PAGING), set()),
    "PUT merge": ({}, {"sha", "squash", "should_remove_source_branch", "merge_commit_message",
                       "squash_commit_message", "auto_merge"}),
    "PUT rebase": ({}, {"skip_ci"}),
    "GET pipelines": ({"order_by": ("id", "status", "ref", "updated_at", "user_id"),
                       "sort": ("asc", "desc"), "ref": ANY, "sha": ANY, "status": ANY,
                       "updated_after": ANY, **PAGING}, set()),
    "GET jobs": ({"scope[]": ("created", "pending", "running", "failed", "success", "canceled",
                              "skipped", "waiting_for_resource", "manual"),
                  "include_retried": BOOL, **PAGING}, set()),
    "GET trace": ({}, set()),
    "GET issues": ({"state": ("opened", "closed", "all"), "labels": ANY,
                    "assignee_username": ANY, "order_by": ("created_at", "updated_at", "priority"),
                    "sort": ("asc", "desc"), **PAGING}, set()),
    "GET issue": ({}, set()),
    "PUT issue": ({}, {"add_labels", "remove_labels", "state_event", "title", "description"}),
    "POST notes": ({}, {"body"}),
}  # fmt: skip
MULTI = {"scope[]"}  # array parameters (repeatable)


class FakeGitLab:
    """The fake: ``start()``, seed state with the helpers, point ``AO_GITLAB_URL`` at ``url``."""

    def __init__(self, token: str = "glpat-test-token-123") -> None:
        self.token = token
        self.projects: dict[str, Project] = {}
        self.requests: list[Req] = []
        self.bad_requests: list[str] = []
        self.faults: list[Fault] = []
        self.limit = [2000, 2000]  # RateLimit-Limit, RateLimit-Remaining
        self.reset_at = 1_900_000_000
        self.lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._tick = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeGitLab:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body leave in one segment (no delayed-ACK stall)
            disable_nagle_algorithm = True

            def log_message(self, *args: t.Any) -> None:
                pass

            def _any(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

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

    def tick(self) -> int:
        return next(self._tick)

    def sha(self, seed: str) -> str:
        return hashlib.sha1(f"{seed}:{next(self._ids)}".encode()).hexdigest()

    def project(self, path: str) -> Project:
        with self.lock:
            if path not in self.projects:
                pid = 100 + len(self.projects)
                self.projects[path] = Project(pid, path, branches={"main": self.sha("main")})
            return self.projects[path]

    def add_mr(self, path: str, branch: str, *, iid: int | None = None, author: str = "ao-bot-user",
               target: str = "main", **fields: t.Any) -> MR:  # fmt: skip
        with self.lock:
            p = self.project(path)
            iid = iid or max([*p.mrs, 0]) + 1
            sha = fields.pop("sha", None) or self.sha(branch)
            if fields.get("source_project_id") is None:
                p.branches[branch] = sha
            now = self.tick()
            mr = MR(iid, next(self._ids), fields.pop("title", f"MR for {branch}"), branch, target,
                    sha, author, now, now, **fields)  # fmt: skip
            p.mrs[iid] = mr
            return mr

    def touch(self, mr: MR) -> None:
        with self.lock:
            mr.updated = self.tick()

    def push(self, path: str, mr: MR) -> str:
        """A new head commit on the MR's branch."""
        with self.lock:
            mr.sha = self.sha(mr.source_branch)
            self.projects[path].branches[mr.source_branch] = mr.sha
            self.touch(mr)
            return mr.sha

    def add_pipeline(self, path: str, mr: MR, status: str = "success",
                     jobs: t.Sequence[tuple[str, str] | tuple[str, str, str]] = (), *,
                     ref: str | None = None, merged_results: bool = False) -> Pipeline:  # fmt: skip
        """A pipeline for the MR's head with jobs ``(name, status[, trace])``."""
        with self.lock:
            p = self.project(path)
            now = self.tick()
            pid = next(self._ids)
            if merged_results:
                pipe = Pipeline(pid, len(p.pipelines) + 1, self.sha("merge"),
                                f"refs/merge-requests/{mr.iid}/merge", status, now, now,
                                "merge_request_event", source_sha=mr.sha)  # fmt: skip
            else:
                pipe = Pipeline(pid, len(p.pipelines) + 1, mr.sha, ref or mr.source_branch,
                                status, now, now)  # fmt: skip
            p.pipelines[pid] = pipe
            for job in jobs:
                name, jstatus, trace = (*job, "")[:3]
                jid = next(self._ids)
                p.jobs[jid] = Job(jid, pid, name, jstatus, trace=trace)
            return pipe

    def set_status(self, pipe: Pipeline, status: str) -> None:
        with self.lock:
            pipe.status = status
            pipe.updated = self.tick()

    def add_discussion(self, mr: MR, author: str, body: str, *, path: str = "",
                       line: int | None = None, replies: t.Sequence[tuple[str, str]] = (),
                       resolved: bool = False, resolvable: bool = True,
                       system: bool = False) -> Discussion:  # fmt: skip
        with self.lock:
            notes = [Note(next(self._ids), a, b, system=system, resolvable=resolvable,
                          resolved=resolved, path=path, line=line)
                     for a, b in [(author, body), *replies]]  # fmt: skip
            d = Discussion(hashlib.sha1(str(next(self._ids)).encode()).hexdigest(), notes,
                           individual_note=not resolvable)  # fmt: skip
            mr.discussions.append(d)
            self.touch(mr)
            return d

    def approve(self, mr: MR, username: str) -> None:
        with self.lock:
            mr.approved_by.append(username)
            self.add_discussion(mr, username, "approved this merge request", system=True,
                                resolvable=False)  # fmt: skip

    def add_issue(self, path: str, iid: int, title: str, description: str = "",
                  labels: list[str] | None = None, **fields: t.Any) -> IssueRec:  # fmt: skip
        with self.lock:
            issue = IssueRec(iid, title, description, labels or [], created=self.tick(), **fields)
            self.project(path).issues[iid] = issue
            return issue

    def fail(self, method: str, path_regex: str, status: int, *,
             headers: dict[str, str] | None = None, body: t.Any = None, times: int = 1) -> None:  # fmt: skip
        """The next ``times`` requests matching (path without /api/v4) answer ``status``."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path_regex), status, headers or {},
                                     body or {"message": f"{status} scripted"}, times))  # fmt: skip

    def too_many(self, path_regex: str = ".*", retry_after: int = 30, times: int = 1) -> None:
        self.fail("*", path_regex, 429, headers={"Retry-After": str(retry_after)},
                  body={"message": "429 Too Many Requests"}, times=times)  # fmt: skip

    # ------------------------------------------------------------------ inspection

    def count(self, method: str | None = None, path: str = "", status: int | None = None) -> int:
        return len(self.matching(method, path, status))

    def matching(self, method: str | None = None, path: str = "",
                 status: int | None = None) -> list[Req]:  # fmt: skip
        return [r for r in self.requests if (method is None or r.method == method)
                and re.search(path, r.path) and (status is None or r.status == status)]  # fmt: skip

    # ------------------------------------------------------------------ HTTP

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        payload = json.loads(raw) if raw else {}
        token = h.headers.get("PRIVATE-TOKEN", "")
        raw_path = parts.path.removeprefix("/api/v4")
        req = Req(h.command, unquote(raw_path), query, 0,
                  conditional="If-None-Match" in h.headers, token=token)  # fmt: skip
        with self.lock:
            status, body, extra = self._route(h.command, raw_path, query, payload, token)
            etag = None
            if status == 200 and h.command == "GET" and not isinstance(body, str):
                text = json.dumps(body, sort_keys=True)
                etag = 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
                if h.headers.get("If-None-Match") == etag:
                    status, body = 304, None
            self.limit[1] = max(self.limit[1] - 1, 0)
            req.status = status
            self.requests.append(req)
            headers = {"RateLimit-Limit": str(self.limit[0]),
                       "RateLimit-Remaining": str(self.limit[1]),
                       "RateLimit-Reset": str(self.reset_at),
                       "RateLimit-Observed": str(self.limit[0] - self.limit[1]), **extra}  # fmt: skip
            if etag:
                headers["ETag"] = etag
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _route(self, method: str, raw_path: str, query: dict[str, list[str]], payload: t.Any,
               token: str) -> Answer:  # fmt: skip
        path = unquote(raw_path)
        for fault in self.faults:
            if fault.times > 0 and fault.method in ("*", method) and fault.pattern.search(path):
                fault.times -= 1
                return fault.status, fault.body, dict(fault.headers)
        if token != self.token:
            return 401, {"message": "401 Unauthorized"}, {}
        if self.limit[1] <= 0:
            return 429, {"message": "429 Too Many Requests"}, {"Retry-After": "60"}
        m = re.match(r"^/projects/([^/]+)(/.*)?$", raw_path)  # the id must be URL-encoded
        if not m:
            return 404, {"error": "404 Not Found"}, {}
        ident = unquote(m.group(1))
        project = next((p for p in self.projects.values()
                        if ident in (p.path, str(p.id))), None)  # fmt: skip
        if project is None:
            return 404, {"message": "404 Project Not Found"}, {}
        route, args = self._match(method, m.group(2) or "")
        if route is None:
            return 404, {"error": "404 Not Found"}, {}
        problem = self._validate(route, query, payload)
        if problem:
            self.bad_requests.append(f"{method} {path}: {problem}")
            return 400, {"error": problem}, {}
        q: dict[str, t.Any] = {k: v[-1] for k, v in query.items()}
        q["scope[]"] = query.get("scope[]", [])
        handler = getattr(self, "_" + route.replace(" ", "_").lower())
        return t.cast(Answer, handler(project, q, payload, *args))

    @staticmethod
    def _match(method: str, rest: str) -> tuple[str | None, tuple[int, ...]]:
        table = [
            (r"^/merge_requests$", "mrs"), (r"^/merge_requests/(\d+)$", "mr"),
            (r"^/merge_requests/(\d+)/approvals$", "approvals"),
            (r"^/merge_requests/(\d+)/discussions$", "discussions"),
            (r"^/merge_requests/(\d+)/merge$", "merge"), (r"^/merge_requests/(\d+)/rebase$", "rebase"),
            (r"^/pipelines$", "pipelines"), (r"^/pipelines/(\d+)/jobs$", "jobs"),
            (r"^/jobs/(\d+)/trace$", "trace"), (r"^/issues$", "issues"),
            (r"^/issues/(\d+)$", "issue"), (r"^/issues/(\d+)/notes$", "notes"),
        ]  # fmt: skip
        for pattern, name in table:
            if mm := re.match(pattern, rest):
                route = f"{method} {name}"
                if route in SPEC:
                    return route, tuple(int(g) for g in mm.groups())
        return None, ()

    @staticmethod
    def _validate(route: str, query: dict[str, list[str]], payload: t.Any) -> str:
        allowed, body_keys = SPEC[route]
        for key, values in query.items():
            if key not in allowed:
                return f"unknown parameter {key!r}"
            if len(values) > 1 and key not in MULTI:
                return f"{key!r} given {len(values)} times"
            rule = allowed[key]
            for value in values:
                if isinstance(rule, tuple) and value not in rule:
                    return f"{key}={value!r} is not one of {rule}"
                if isinstance(rule, str) and rule.startswith("int:"):
                    low, _, high = rule[4:].partition("-")
                    if (
                        not value.isdigit()
                        or int(value) < int(low)
                        or (high and int(value) > int(high))
                    ):
                        return f"{key}={value!r} out of range {rule[4:]}"
        if not isinstance(payload, dict):
            return "the body is not a JSON object"
        unknown = set(payload) - body_keys
        return f"unknown body keys {sorted(unknown)}" if unknown else ""

    @staticmethod
    def _page(items: list[t.Any], q: dict[str, t.Any], default: int = 20) -> Answer:
        per_page, page = int(q.get("per_page", default)), int(q.get("page", 1))
        total_pages = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        nxt = str(page + 1) if page < total_pages else ""
        return 200, chunk, {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Next-Page": nxt,
                            "X-Prev-Page": str(page - 1) if page > 1 else "",
                            "X-Total": str(len(items)), "X-Total-Pages": str(total_pages)}  # fmt: skip

    # ------------------------------------------------------------------ merge requests

    def _get_mrs(self, p: Project, q: dict[str, t.Any], body: t.Any) -> Answer:
        mrs = [mr for mr in p.mrs.values() if q.get("state", "all") in ("all", mr.state)
               and q.get("source_branch", mr.source_branch) == mr.source_branch]  # fmt: skip
        field = q.get("order_by", "created_at")
        mrs.sort(key=lambda mr: (mr.updated if field == "updated_at" else mr.created, mr.iid),
                 reverse=q.get("sort", "desc") == "desc")  # fmt: skip
        return self._page([st.mr_json(p, mr) for mr in mrs], q)

    def _get_mr(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        mr = p.mrs.get(iid)
        if mr is None:
            return 404, {"message": "404 Not found"}, {}
        if mr.detailed_merge_status in ("unchecked", "checking") and mr.recheck_to:
            mr.detailed_merge_status = mr.recheck_to  # a GET starts GitLab's check
        if mr.rebase_in_progress:
            if mr.rebase_polls > 0:
                mr.rebase_polls -= 1
            else:
                self._finish_rebase(p, mr)
        doc = st.mr_json(p, mr, detail=True)
        if q.get("include_rebase_in_progress") == "true":
            doc["rebase_in_progress"] = mr.rebase_in_progress
        return 200, doc, {}

    def _post_mrs(self, p: Project, q: dict[str, t.Any], body: t.Any) -> Answer:
        missing = [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]
        if missing:
            return 400, {"error": f"{', '.join(missing)} is missing"}, {}
        for mr in p.mrs.values():
            if mr.source_branch == body["source_branch"] and mr.state == "opened":
                return 409, {"message": ["Another open merge request already exists for this "
                                         f"source branch: !{mr.iid}"]}, {}  # fmt: skip
        title = body["title"]
        mr = self.add_mr(p.path, body["source_branch"], target=body["target_branch"], title=title,
                         description=body.get("description") or "",
                         draft=bool(re.match(r"(?i)^\s*(\[draft\]|\(draft\)|draft:)", title)),
                         sha=p.branches.get(body["source_branch"]))  # fmt: skip
        return 201, st.mr_json(p, mr, detail=True), {}

    def _get_approvals(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        mr = p.mrs.get(iid)
        return (
            (200, st.approvals_json(p, mr), {}) if mr else (404, {"message": "404 Not found"}, {})
        )

    def _get_discussions(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        mr = p.mrs.get(iid)
        if mr is None:
            return 404, {"message": "404 Not found"}, {}
        return self._page([st.discussion_json(mr, d) for d in mr.discussions], q)

    def _put_merge(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        mr = p.mrs.get(iid)
        if mr is None:
            return 404, {"message": "404 Not found"}, {}
        if mr.state != "opened" or mr.draft:
            return 405, {"message": "405 Method Not Allowed"}, {}
        if mr.has_conflicts or mr.detailed_merge_status == "conflict":
            return 422, {"message": "Branch cannot be merged"}, {}
        if mr.detailed_merge_status != "mergeable":
            return 405, {"message": "405 Method Not Allowed"}, {}
        if body.get("sha") and body["sha"] != mr.sha:
            return 409, {"message": f"SHA does not match HEAD of source branch: {mr.sha}"}, {}
        mr.state, mr.squash = "merged", bool(body.get("squash"))
        mr.removed_source_branch = bool(body.get("should_remove_source_branch"))
        mr.merge_commit_sha = self.sha("merge")
        if mr.removed_source_branch:
            p.branches.pop(mr.source_branch, None)
        self.touch(mr)
        return 200, st.mr_json(p, mr, detail=True), {}

    def _put_rebase(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        mr = p.mrs.get(iid)
        if mr is None or mr.state != "opened":
            return 403 if mr else 404, {"message": "403 Forbidden"}, {}
        mr.rebase_in_progress = True
        return 202, {"rebase_in_progress": True}, {}

    def _finish_rebase(self, p: Project, mr: MR) -> None:
        mr.rebase_in_progress = False
        if mr.rebase_conflict:
            mr.merge_error = (
                "Rebase failed: Rebase locally, resolve all conflicts, then push the branch."
            )
            return
        mr.merge_error = None
        mr.rebased += 1
        self.push(p.path, mr)

    # ------------------------------------------------------------------ CI

    def _get_pipelines(self, p: Project, q: dict[str, t.Any], body: t.Any) -> Answer:
        field = q.get("order_by", "id")
        pipes = sorted(p.pipelines.values(), key=lambda x: (x.updated if field == "updated_at"
                       else x.id, x.id), reverse=q.get("sort", "desc") == "desc")  # fmt: skip
        return self._page([st.pipeline_json(p, x) for x in pipes], q)

    def _get_jobs(self, p: Project, q: dict[str, t.Any], body: t.Any, pid: int) -> Answer:
        if pid not in p.pipelines:
            return 404, {"message": "404 Not found"}, {}
        scope = q.get("scope[]") or []
        jobs = [
            j for j in p.jobs.values() if j.pipeline_id == pid and (not scope or j.status in scope)
        ]
        return self._page([st.job_json(p, j) for j in jobs], q)

    def _get_trace(self, p: Project, q: dict[str, t.Any], body: t.Any, jid: int) -> Answer:
        job = p.jobs.get(jid)
        return (200, job.trace, {}) if job else (404, {"message": "404 Not found"}, {})

    # ------------------------------------------------------------------ issues

    def _get_issues(self, p: Project, q: dict[str, t.Any], body: t.Any) -> Answer:
        labels = [x for x in q.get("labels", "").split(",") if x]
        issues = [i for i in p.issues.values() if q.get("state", "all") in ("all", i.state)
                  and all(x in i.labels for x in labels)
                  and ("assignee_username" not in q or q["assignee_username"] in i.assignees)]  # fmt: skip
        issues.sort(key=lambda i: i.created, reverse=q.get("sort", "desc") == "desc")
        return self._page([st.issue_json(p, i) for i in issues], q)

    def _get_issue(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        issue = p.issues.get(iid)
        return (
            (200, st.issue_json(p, issue), {}) if issue else (404, {"message": "404 Not found"}, {})
        )

    def _put_issue(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        issue = p.issues.get(iid)
        if issue is None:
            return 404, {"message": "404 Not found"}, {}
        if body.get("state_event") not in (None, "close", "reopen"):
            return 400, {"error": "state_event does not have a valid value"}, {}
        issue.labels += [x for x in str(body.get("add_labels") or "").split(",")
                         if x and x not in issue.labels]  # fmt: skip
        if body.get("state_event"):
            issue.state = "closed" if body["state_event"] == "close" else "opened"
        return 200, st.issue_json(p, issue), {}

    def _post_notes(self, p: Project, q: dict[str, t.Any], body: t.Any, iid: int) -> Answer:
        issue = p.issues.get(iid)
        if issue is None:
            return 404, {"message": "404 Not found"}, {}
        if not body.get("body"):
            return 400, {"error": "body is missing"}, {}
        issue.notes.append(body["body"])
        return 201, {"id": next(self._ids), "body": body["body"], "system": False}, {}
