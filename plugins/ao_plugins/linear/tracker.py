"""``LinearTracker``: Linear issues as tasks for agents.

A project names its Linear team by key in ``trackerProject`` (``ENG``); issues are
referred to as ``ENG-123`` (any case), by their linear.app URL, or — within the
project's team — by number alone. An issue is ``closed`` once its workflow state is of
type ``completed`` or ``canceled``. Branches follow Linear's own suggestion
(``branchName``, e.g. ``alice/eng-123-fix-login``) so that Linear links the pull request
to the issue; option ``branchPrefix`` forces ``<prefix>/eng-123-slug`` instead. Issue
text is untrusted: the prompt fences it (``ao.sdk.textsafe.issue_task``).
"""

from __future__ import annotations

import re
import threading
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
from ao.sdk.errors import AoError, NotFoundError, UsageError
from ao.sdk.gitref import slugify, validate_branch
from ao.sdk.textsafe import issue_task, strip_controls
from ao_plugins.linear import queries
from ao_plugins.linear.client import LinearClient

_KEY = r"[A-Za-z][A-Za-z0-9_]{0,19}"
_IDENTIFIER = re.compile(rf"^({_KEY})-(\d{{1,9}})$")
_URL = re.compile(
    rf"^https?://(?:[\w-]+\.)*linear\.app/[\w.-]+/issue/({_KEY}-\d{{1,9}})(?:[/?#].*)?$"
)
_NUMBER = re.compile(r"^#?(\d{1,9})$")
CLOSED_TYPES = ("completed", "canceled")
PAGE = 100


def team_key(project_repo: str) -> str:
    """``project_repo`` as a Linear team key (``ENG``); UsageError when it is not one."""
    key = project_repo.strip()
    if not re.fullmatch(_KEY, key):
        raise UsageError(
            f"{project_repo!r} is not a Linear team key",
            hint="set `trackerProject: ENG` (the team's key) on the project in the config",
        )
    return key.upper()


def identifier_of(ref: str, project_repo: str = "") -> str:
    """``ENG-123`` for ``eng-123``, a linear.app issue URL, or ``123`` within the team."""
    text = ref.strip()
    if match := _URL.match(text):
        text = match.group(1)
    if match := _IDENTIFIER.match(text):
        return f"{match.group(1).upper()}-{int(match.group(2))}"
    if match := _NUMBER.match(text):
        if not project_repo:
            raise UsageError(f"{ref!r} needs a team", hint="use the full identifier, e.g. ENG-123")
        return f"{team_key(project_repo)}-{int(match.group(1))}"
    raise UsageError(
        f"{strip_controls(ref)[:80]!r} is not a Linear issue",
        hint="e.g. ENG-123, 123 (in the project's team) or a linear.app issue URL",
    )


def issue_prompt(issue: Issue, project_repo: str = "") -> str:
    """The task text for an agent working on Linear ``issue``, its content fenced as data."""
    return issue_task(issue, f"Linear issue {issue.id}")


class _Ref(t.NamedTuple):
    uuid: str
    identifier: str
    team_id: str
    state_type: str


class LinearTracker(Tracker, IssuePrompting, IssueListing, IssueUpdating):
    """Issues in Linear (linear.app), read and updated over its GraphQL API.

    Options: those of ``LinearClient`` (``apiUrl``, ``tokenEnv``, ``authScheme``,
    ``timeout``, ``retries``, ``maxWait``) plus ``branchPrefix`` (use
    ``<prefix>/eng-123-slug`` branches instead of Linear's suggested ones).
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
        self.client = LinearClient(opts, clock=clock, sleep=sleep, transport=transport)
        prefix = str(opts.get("branchPrefix") or "").strip("/")
        self.forced_prefix = prefix or None
        self.prefix = prefix or "feat"
        self._lock = threading.Lock()
        self._branches: dict[str, str] = {}  # identifier -> Linear's suggested branch
        self._refs: dict[str, _Ref] = {}  # identifier -> ids, for mutations

    # ------------------------------------------------------------------ reading

    def _issue(self, doc: Mapping[str, t.Any]) -> Issue:
        identifier = str(doc.get("identifier") or "")
        state = doc.get("state") or {}
        team = doc.get("team") or {}
        labels = tuple(
            str(node.get("name") or "") for node in (doc.get("labels") or {}).get("nodes") or []
        )
        with self._lock:
            if doc.get("branchName"):
                self._branches[identifier] = str(doc["branchName"])
            self._refs[identifier] = _Ref(
                str(doc.get("id") or ""),
                identifier,
                str(team.get("id") or ""),
                str(state.get("type") or ""),
            )
        return Issue(
            id=identifier,
            title=str(doc.get("title") or ""),
            body=str(doc.get("description") or ""),
            url=str(doc.get("url") or ""),
            labels=labels,
            state="closed" if state.get("type") in CLOSED_TYPES else "open",
        )

    def get_issue(self, project_repo: str, issue_id: str) -> Issue:
        """Fetch one issue by identifier, URL or number (within the project's team)."""
        identifier = identifier_of(issue_id, project_repo)
        data = self.client.graphql(queries.ISSUE, {"id": identifier}, what=f"issue {identifier}")
        doc = data.get("issue")
        if not doc:
            raise NotFoundError(f"issue {identifier}: not found in Linear")
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
        """The team's issues matching all ``labels``, ``assignee`` and ``state``, newest first.

        ``assignee`` is ``me`` (the API key's user), an email or a display/full name;
        ``state`` is ``open``, ``closed`` or ``all``.
        """
        key = team_key(project_repo)
        if state not in ("open", "closed", "all"):
            raise UsageError(f"unknown issue state {state!r}", hint="open, closed or all")
        wanted: dict[str, t.Any] = {"team": {"key": {"eqIgnoreCase": key}}}
        if state != "all":
            op = "nin" if state == "open" else "in"
            wanted["state"] = {"type": {op: list(CLOSED_TYPES)}}
        if labels:
            wanted["and"] = [{"labels": {"some": {"name": {"eqIgnoreCase": name}}}}
                             for name in labels]  # fmt: skip
        if assignee:
            wanted["assignee"] = _user_filter(assignee)
        found: list[Issue] = []
        after: str | None = None
        while len(found) < limit:
            variables = {"team": key, "filter": wanted, "first": min(limit - len(found), PAGE),
                         "after": after}  # fmt: skip
            data = self.client.graphql(queries.ISSUES, variables, what=f"issues of team {key}")
            if not (data.get("teams") or {}).get("nodes"):
                raise NotFoundError(f"no Linear team with key {key}",
                                    hint="check trackerProject on the project")  # fmt: skip
            conn = data.get("issues") or {}
            found += [self._issue(doc) for doc in conn.get("nodes") or []]
            page = conn.get("pageInfo") or {}
            after = page.get("endCursor")
            if not page.get("hasNextPage") or not after:
                break
        return found[:limit]

    def branch_name(self, issue: Issue) -> str:
        """Linear's suggested branch for ``issue`` if git-safe, else ``feat/eng-123-slug``."""
        suggested = self._branches.get(issue.id)
        if suggested and self.forced_prefix is None:
            try:
                return validate_branch(suggested)
            except UsageError:
                pass  # a workspace branch format git cannot use: fall back to ours
        ident = re.sub(r"[^0-9a-z]+", "-", issue.id.lower()).strip("-") or "issue"
        slug = slugify(issue.title, max_len=40)
        return validate_branch(f"{self.prefix}/{ident}" + (f"-{slug}" if slug != "task" else ""))

    def issue_prompt(self, issue: Issue, project_repo: str = "") -> str:
        """The task text for an agent (see ``issue_prompt``)."""
        return issue_prompt(issue, project_repo)

    def is_completed(self, project_repo: str, issue_id: str) -> bool:
        """Whether the issue is closed (its state is of type completed or canceled)."""
        return self.get_issue(project_repo, issue_id).state == "closed"

    # ------------------------------------------------------------------ writing

    def _ref(self, project_repo: str, issue_id: str, *, fresh: bool = False) -> _Ref:
        """The issue's ids (cached from earlier reads unless ``fresh``)."""
        identifier = identifier_of(issue_id, project_repo)
        with self._lock:
            known = self._refs.get(identifier)
        if known and known.uuid and known.team_id and not fresh:
            return known
        issue = self.get_issue(project_repo, identifier)  # may answer a moved issue's new id
        return self._refs[issue.id]

    def _update(self, ref: _Ref, changes: Mapping[str, t.Any], what: str) -> None:
        data = self.client.graphql(queries.UPDATE, {"id": ref.uuid, "input": dict(changes)},
                                   what=what)  # fmt: skip
        payload = data.get("issueUpdate") or {}
        if not payload.get("success"):
            raise AoError(f"{what}: Linear did not apply the change", hint="try again")
        if payload.get("issue"):
            self._issue(payload["issue"])

    def comment(self, project_repo: str, issue_id: str, body: str) -> None:
        """Add a comment (markdown) to the issue."""
        ref = self._ref(project_repo, issue_id)
        what = f"commenting on {ref.identifier}"
        data = self.client.graphql(
            queries.COMMENT, {"input": {"issueId": ref.uuid, "body": body}}, what=what
        )
        if not (data.get("commentCreate") or {}).get("success"):
            raise AoError(f"{what}: Linear did not create the comment", hint="try again")

    def add_labels(self, project_repo: str, issue_id: str, labels: Sequence[str]) -> None:
        """Add labels (by name, any case; the team's or the workspace's); existing ones stay."""
        ref = self._ref(project_repo, issue_id)
        nodes = self._all(queries.LABELS, {"teamId": ref.team_id}, "issueLabels",
                          f"labels for {ref.identifier}")  # fmt: skip
        by_name = {str(n["name"]).lower(): n for n in nodes if not n.get("isGroup")}
        missing = [name for name in labels if name.lower() not in by_name]
        if missing:
            names = sorted({str(n["name"]) for n in by_name.values()}, key=str.lower)
            shown = ", ".join(names[:30]) + (f" … ({len(names)} in all)" if len(names) > 30 else "")
            raise UsageError(
                f"no label {', '.join(map(repr, missing))} in {ref.identifier}'s team",
                hint=f"available: {shown or 'none'}; create it in Linear first",
            )
        ids = list(dict.fromkeys(str(by_name[name.lower()]["id"]) for name in labels))
        if ids:
            self._update(ref, {"addedLabelIds": ids}, f"labelling {ref.identifier}")

    def _states(self, ref: _Ref) -> list[dict[str, t.Any]]:
        nodes = self._all(queries.STATES, {"teamId": ref.team_id}, "team.states",
                          f"workflow states for {ref.identifier}")  # fmt: skip
        return sorted(nodes, key=lambda n: float(n.get("position") or 0.0))

    def set_state(self, project_repo: str, issue_id: str, state_name: str) -> None:
        """Move the issue to the team's workflow state named ``state_name`` (any case)."""
        ref = self._ref(project_repo, issue_id)
        states = self._states(ref)
        match = [s for s in states if str(s["name"]).lower() == state_name.strip().lower()]
        if not match:
            names = ", ".join(str(s["name"]) for s in states)
            raise UsageError(f"{ref.identifier}'s team has no state {state_name!r}",
                             hint=f"states: {names or 'none'}")  # fmt: skip
        self._update(ref, {"stateId": match[0]["id"]}, f"moving {ref.identifier} to {state_name}")

    def close(self, project_repo: str, issue_id: str, reason: str = "completed") -> None:
        """Move the issue to the team's first ``completed`` (or, for ``not_planned``,
        ``canceled``) workflow state; nothing is sent when it is in one already."""
        if reason not in ("completed", "not_planned"):
            raise UsageError(f"unknown close reason {reason!r}", hint="completed or not_planned")
        kind = "completed" if reason == "completed" else "canceled"
        ref = self._ref(project_repo, issue_id, fresh=True)  # its current state decides
        if ref.state_type == kind:
            return
        target = next((s for s in self._states(ref) if s.get("type") == kind), None)
        if target is None:
            raise UsageError(f"{ref.identifier}'s team has no workflow state of type {kind}",
                             hint="add one in the team's workflow settings")  # fmt: skip
        self._update(ref, {"stateId": target["id"]}, f"closing {ref.identifier}")

    def _all(
        self, query: str, variables: Mapping[str, t.Any], path: str, what: str
    ) -> list[dict[str, t.Any]]:
        """Every node of a paged connection at ``path`` (dotted) of the answer."""
        nodes: list[dict[str, t.Any]] = []
        after: str | None = None
        for _ in range(40):  # 10,000 items at most
            data: t.Any = self.client.graphql(query, {**variables, "after": after}, what=what)
            for part in path.split("."):
                data = (data or {}).get(part)
            conn = data or {}
            nodes += [n for n in conn.get("nodes") or [] if isinstance(n, dict)]
            page = conn.get("pageInfo") or {}
            after = page.get("endCursor")
            if not page.get("hasNextPage") or not after:
                break
        return nodes


def _user_filter(assignee: str) -> dict[str, t.Any]:
    """A ``NullableUserFilter`` for ``me``, an email, or a display or full name."""
    who = assignee.strip()
    if who.lower() == "me":
        return {"isMe": {"eq": True}}
    if "@" in who:
        return {"email": {"eqIgnoreCase": who}}
    return {"or": [{"displayName": {"eqIgnoreCase": who}}, {"name": {"eqIgnoreCase": who}}]}
