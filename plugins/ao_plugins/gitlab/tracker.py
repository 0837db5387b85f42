"""``GitLabTracker``: GitLab issues as tasks for agents.

Reads are conditional GETs (ETag cache on disk). Issue text is untrusted: the prompt
built from it (``ao.sdk.textsafe.issue_task``) strips control and escape sequences and
fences title, labels, URL and description as data.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Callable, Mapping, Sequence

import httpx

from ao.sdk.contracts import (
    API_VERSION,
    Issue,
    IssueListing,
    IssuePrompting,
    IssueUpdating,
    Tracker,
)
from ao.sdk.errors import UsageError
from ao.sdk.forge import issue_branch, label_names
from ao.sdk.textsafe import issue_task
from ao_plugins.gitlab.client import GitLabClient, error_for, project_id

_ISSUE_REF = re.compile(
    r"^(?:#?(\d+)|https?://[^/\s]+/[^\s#?]+?/(?:-/)?(?:issues|work_items)/(\d+)/?(?:[#?]\S*)?)$"
)
_STATES = {"open": "opened", "closed": "closed", "all": "all"}


def issue_iid(issue_id: str) -> int:
    """``7``, ``#7`` or an issue URL (``…/-/issues/7``) as the iid 7; UsageError otherwise."""
    match = _ISSUE_REF.match(issue_id.strip())
    if not match:
        raise UsageError(
            f"{issue_id!r} is not a GitLab issue", hint="e.g. 7, #7 or the issue's URL"
        )
    return int(match.group(1) or match.group(2))


class GitLabTracker(Tracker, IssuePrompting, IssueListing, IssueUpdating):
    """Issues on gitlab.com or a self-managed GitLab.

    Options: those of the HTTP client (``url``, ``tokenEnv``, ``timeout``, ``reserve``…)
    plus ``branchPrefix`` (default ``feat``) for branch names.
    """

    api_version = API_VERSION

    def __init__(
        self,
        options: Mapping[str, t.Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        opts = dict(options or {})
        self.client = GitLabClient(opts, clock=clock, sleep=sleep, transport=transport)
        self.prefix = str(opts.get("branchPrefix", "feat")).strip("/") or "feat"

    @staticmethod
    def _issue(doc: Mapping[str, t.Any]) -> Issue:
        return Issue(
            id=str(doc["iid"]),
            title=str(doc.get("title") or ""),
            body=str(doc.get("description") or ""),
            url=str(doc.get("web_url") or ""),
            labels=label_names(doc.get("labels")),
            state="closed" if doc.get("state") == "closed" else "open",
        )

    def get_issue(self, project_repo: str, issue_id: str) -> Issue:
        """Fetch one issue by its iid (conditional GET)."""
        pid, iid = project_id(project_repo), issue_iid(issue_id)
        doc = self.client.get_json(
            f"/projects/{pid}/issues/{iid}", what=f"issue #{iid} of {project_repo}"
        )
        return self._issue(doc)

    def list_issues(
        self,
        project_repo: str,
        *,
        labels: Sequence[str] = (),
        assignee: str | None = None,
        state: str = "open",
        limit: int = 100,
    ) -> list[Issue]:
        """Issues matching the filters (all labels, assignee username), newest first."""
        pid = project_id(project_repo)
        if state not in _STATES:
            raise UsageError(f"unknown issue state {state!r}", hint="open, closed or all")
        per_page = min(max(limit, 1), 100)
        params: dict[str, str | int | list[str]] = {
            "state": _STATES[state],
            "order_by": "created_at",
            "sort": "desc",
            "per_page": per_page,
        }
        if labels:
            params["labels"] = ",".join(labels)
        if assignee:
            params["assignee_username"] = assignee
        found: list[Issue] = []
        page: int | None = 1
        while page is not None and len(found) < limit:
            docs, page = self.client.get_page(
                f"/projects/{pid}/issues",
                {**params, "page": page},
                what=f"issues of {project_repo}",
            )
            found += [self._issue(d) for d in docs or []]
            if len(docs or []) < per_page:
                break
        return found[:limit]

    def branch_name(self, issue: Issue) -> str:
        """``feat/issue-7-short-title``: a git-safe branch for work on ``issue``."""
        return issue_branch(self.prefix, issue)

    def issue_prompt(self, issue: Issue, project_repo: str = "") -> str:
        """The task text for an agent, the issue's text fenced as untrusted data."""
        where = f" of {project_repo}" if project_repo else ""
        return issue_task(issue, f"GitLab issue #{issue.id}{where}")

    def comment(self, project_repo: str, issue_id: str, body: str) -> None:
        """Add a comment (a note) to the issue."""
        pid, iid = project_id(project_repo), issue_iid(issue_id)
        resp = self.client.request(
            "POST", f"/projects/{pid}/issues/{iid}/notes", json={"body": body}, essential=True
        )
        if resp.status_code != 201:
            raise error_for(resp, f"commenting on #{iid} of {project_repo}")

    def add_labels(self, project_repo: str, issue_id: str, labels: Sequence[str]) -> None:
        """Add labels to the issue (existing labels stay)."""
        pid, iid = project_id(project_repo), issue_iid(issue_id)
        resp = self.client.request(
            "PUT",
            f"/projects/{pid}/issues/{iid}",
            json={"add_labels": ",".join(labels)},
            essential=True,
        )
        if resp.status_code != 200:
            raise error_for(resp, f"labelling #{iid} of {project_repo}")

    def close(self, project_repo: str, issue_id: str, reason: str = "completed") -> None:
        """Close the issue (GitLab records no reason: ``not_planned`` closes it the same way)."""
        if reason not in ("completed", "not_planned"):
            raise UsageError(f"unknown close reason {reason!r}", hint="completed or not_planned")
        pid, iid = project_id(project_repo), issue_iid(issue_id)
        resp = self.client.request(
            "PUT", f"/projects/{pid}/issues/{iid}", json={"state_event": "close"}, essential=True
        )
        if resp.status_code != 200:
            raise error_for(resp, f"closing #{iid} of {project_repo}")

    def is_completed(self, project_repo: str, issue_id: str) -> bool:
        """Whether the issue is closed."""
        return self.get_issue(project_repo, issue_id).state == "closed"
