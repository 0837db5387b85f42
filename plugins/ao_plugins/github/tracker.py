"""``GitHubTracker``: GitHub issues as tasks for agents.

Reads go through conditional GETs (ETag cache on disk), so re-reading an unchanged issue
is answered 304 for free. Issue text is untrusted: the prompt built from it strips
control and escape sequences and fences title, labels, URL and body as data inside a
code fence longer than any backtick run in the text, so the text cannot close it.
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
from ao_plugins.github.client import GitHubClient, error_for, split_repo

_ISSUE_REF = re.compile(r"^(?:#?(\d+)|https?://[^/\s]+/[^/\s]+/[^/\s]+/(?:issues|pull)/(\d+)/?)$")


def issue_number(issue_id: str) -> int:
    """``7``, ``#7`` or an issue URL as the number 7; UsageError otherwise."""
    match = _ISSUE_REF.match(issue_id.strip())
    if not match:
        raise UsageError(f"{issue_id!r} is not an issue number", hint="e.g. 7, #7 or an issue URL")
    return int(match.group(1) or match.group(2))


def issue_prompt(issue: Issue, repo: str = "") -> str:
    """The task text for an agent working on GitHub ``issue``, its content fenced as data."""
    where = f" of {repo}" if repo else ""
    return issue_task(issue, f"GitHub issue #{issue.id}{where}")


class GitHubTracker(Tracker, IssuePrompting, IssueListing, IssueUpdating):
    """Issues on GitHub or GitHub Enterprise Server.

    Options: those of the HTTP client (``apiUrl``, ``tokenEnv``, ``timeout``, ``reserve``…)
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
        self.client = GitHubClient(opts, clock=clock, sleep=sleep, transport=transport)
        self.prefix = str(opts.get("branchPrefix", "feat")).strip("/") or "feat"

    def _issue(self, doc: Mapping[str, t.Any]) -> Issue:
        return Issue(
            id=str(doc["number"]),
            title=str(doc.get("title") or ""),
            body=str(doc.get("body") or ""),
            url=str(doc.get("html_url") or ""),
            labels=label_names(doc.get("labels")),
            state=str(doc.get("state") or "open"),
        )

    def get_issue(self, project_repo: str, issue_id: str) -> Issue:
        """Fetch one issue (conditional GET; pull requests are refused)."""
        split_repo(project_repo)
        number = issue_number(issue_id)
        doc = self.client.get_json(
            f"/repos/{project_repo}/issues/{number}", what=f"issue #{number} of {project_repo}"
        )
        if doc.get("pull_request"):
            raise UsageError(f"#{number} of {project_repo} is a pull request, not an issue")
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
        """Issues (not pull requests) matching the filters, newest first, up to ``limit``."""
        split_repo(project_repo)
        if state not in ("open", "closed", "all"):
            raise UsageError(f"unknown issue state {state!r}", hint="open, closed or all")
        params: dict[str, str | int] = {"state": state, "per_page": min(max(limit, 1), 100)}
        if labels:
            params["labels"] = ",".join(labels)
        if assignee:
            params["assignee"] = assignee
        found: list[Issue] = []
        page = 1
        while len(found) < limit:
            docs = self.client.get_json(
                f"/repos/{project_repo}/issues", {**params, "page": page},
                what=f"issues of {project_repo}",
            )  # fmt: skip
            found += [self._issue(d) for d in docs if not d.get("pull_request")]
            if len(docs) < int(params["per_page"]):
                break
            page += 1
        return found[:limit]

    def branch_name(self, issue: Issue) -> str:
        """``feat/issue-123-short-title``: a git-safe branch for work on ``issue``."""
        return issue_branch(self.prefix, issue)

    def issue_prompt(self, issue: Issue, project_repo: str = "") -> str:
        """The task text for an agent (see ``issue_prompt``)."""
        return issue_prompt(issue, project_repo)

    def comment(self, project_repo: str, issue_id: str, body: str) -> None:
        """Add a comment to the issue."""
        number = issue_number(issue_id)
        resp = self.client.request(
            "POST", f"/repos/{project_repo}/issues/{number}/comments", json={"body": body},
            essential=True,
        )  # fmt: skip
        if resp.status_code != 201:
            raise error_for(resp, f"commenting on #{number}")

    def add_labels(self, project_repo: str, issue_id: str, labels: Sequence[str]) -> None:
        """Add labels to the issue (existing labels stay)."""
        number = issue_number(issue_id)
        resp = self.client.request(
            "POST", f"/repos/{project_repo}/issues/{number}/labels",
            json={"labels": list(labels)}, essential=True,
        )  # fmt: skip
        if resp.status_code != 200:
            raise error_for(resp, f"labelling #{number}")

    def close(self, project_repo: str, issue_id: str, reason: str = "completed") -> None:
        """Close the issue as ``completed`` or ``not_planned``."""
        if reason not in ("completed", "not_planned"):
            raise UsageError(f"unknown close reason {reason!r}", hint="completed or not_planned")
        number = issue_number(issue_id)
        resp = self.client.request(
            "PATCH", f"/repos/{project_repo}/issues/{number}",
            json={"state": "closed", "state_reason": reason}, essential=True,
        )  # fmt: skip
        if resp.status_code != 200:
            raise error_for(resp, f"closing #{number}")

    def is_completed(self, project_repo: str, issue_id: str) -> bool:
        """Whether the issue is closed."""
        return self.get_issue(project_repo, issue_id).state == "closed"
