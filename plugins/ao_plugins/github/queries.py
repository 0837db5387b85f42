"""GraphQL text for the batched pull-request query and its translation into ``PrState``.

One query asks for up to ``BATCH`` branches at once, one alias per branch
(``b0: pullRequests(headRefName: $h0, …)``); branch names travel as variables, never
spliced into the query text. Every query shape this module can produce is validated
against GitHub's published schema in the tests.
"""

from __future__ import annotations

import dataclasses
import typing as t
from collections.abc import Sequence

from ao.sdk.contracts import Check, PrState, ReviewComment

BATCH = 25

PR_FIELDS = """
fragment AoPr on PullRequest {
  number url state isDraft mergeable mergeStateStatus reviewDecision
  headRefName headRefOid baseRefName
  headRepository { nameWithOwner }
  labels(first: 30) { nodes { name } }
  commits(last: 1) { nodes { commit { oid statusCheckRollup { state
    contexts(first: 100) { nodes { __typename
      ... on CheckRun { databaseId name status conclusion detailsUrl
                        checkSuite { app { slug } } }
      ... on StatusContext { context state targetUrl description } } } } } } }
  reviewThreads(last: 50) { nodes { id isResolved isOutdated path line
    comments(first: 30) { nodes { id author { __typename login } body path line
                                  originalLine isMinimized } } } }
  latestReviews(first: 20) { nodes { id state body author { __typename login } } }
}
"""


def batch_query(count: int) -> str:
    """The query for ``count`` branches (variables ``$owner``, ``$name``, ``$h0``…)."""
    if not 1 <= count <= BATCH:
        raise ValueError(f"a batch holds 1..{BATCH} branches, not {count}")
    params = ", ".join(f"$h{i}: String!" for i in range(count))
    aliases = "\n".join(
        f"    b{i}: pullRequests(headRefName: $h{i}, first: 2, "
        f"orderBy: {{field: CREATED_AT, direction: DESC}}) {{ nodes {{ ...AoPr }} }}"
        for i in range(count)
    )
    return (
        f"query AoPrStates($owner: String!, $name: String!, {params}) {{\n"
        "  rateLimit { cost remaining resetAt limit }\n"
        "  repository(owner: $owner, name: $name) {\n"
        f"    nameWithOwner\n{aliases}\n  }}\n}}\n{PR_FIELDS}"
    )


def batch_variables(owner: str, name: str, branches: Sequence[str]) -> dict[str, str]:
    """Variables for ``batch_query(len(branches))``."""
    return {"owner": owner, "name": name, **{f"h{i}": b for i, b in enumerate(branches)}}


@dataclasses.dataclass(frozen=True)
class FailingCheck:
    """Where a failing check's log or output can be fetched."""

    name: str
    check_run_id: int | None  # a check run (GitHub Actions job id when ``actions``)
    actions: bool
    description: str = ""  # a commit status's own description


_CHECK_PASS = {"SUCCESS", "NEUTRAL", "SKIPPED"}
_CHECK_FAIL = {"FAILURE", "TIMED_OUT", "CANCELLED", "ACTION_REQUIRED", "STARTUP_FAILURE"}
_STATUS = {"SUCCESS": "passing", "FAILURE": "failing", "ERROR": "failing"}
_REVIEW = {"APPROVED": "approved", "CHANGES_REQUESTED": "changes_requested",
           "REVIEW_REQUIRED": "review_required"}  # fmt: skip


def _nodes(value: t.Any) -> list[t.Any]:
    if not isinstance(value, dict):
        return []
    return [n for n in value.get("nodes") or [] if isinstance(n, dict)]


def is_bot(author: t.Any) -> bool:
    """Whether a GraphQL ``Actor`` is a bot (an app, or a ``…[bot]`` login)."""
    if not isinstance(author, dict):
        return False
    return author.get("__typename") == "Bot" or str(author.get("login", "")).endswith("[bot]")


def _login(author: t.Any) -> str:
    return str(author.get("login") or "ghost") if isinstance(author, dict) else "ghost"


def bots_allowed(option: t.Any, author: t.Any) -> bool:
    """Option ``reviewBots``: false (default) hides bots, true shows all, a list names some."""
    if not is_bot(author):
        return True
    if isinstance(option, list | tuple):
        login = _login(author)
        return login in option or login.removesuffix("[bot]") in option
    return bool(option)


def checks_of(commit: t.Any) -> tuple[list[Check], list[FailingCheck]]:
    """The checks of a commit's status rollup, and where to look for failing ones' logs."""
    rollup = commit.get("statusCheckRollup") if isinstance(commit, dict) else None
    checks: list[Check] = []
    failing: list[FailingCheck] = []
    seen: set[str] = set()
    for node in _nodes(rollup.get("contexts") if isinstance(rollup, dict) else None):
        if node.get("__typename") == "CheckRun":
            name = str(node.get("name") or "check")
            conclusion = node.get("conclusion")
            if node.get("status") != "COMPLETED":
                state = "pending"
            elif conclusion in _CHECK_PASS:
                state = "passing"
            elif conclusion in _CHECK_FAIL:
                state = "failing"
            else:
                state = "pending"  # STALE or unknown: GitHub will rerun or report again
            url = str(node.get("detailsUrl") or "")
            suite = node.get("checkSuite") or {}
            app = (suite.get("app") or {}).get("slug") if isinstance(suite, dict) else None
            ref = FailingCheck(name, node.get("databaseId"), app == "github-actions")
        else:
            name = str(node.get("context") or "status")
            state = _STATUS.get(str(node.get("state")), "pending")
            url = str(node.get("targetUrl") or "")
            ref = FailingCheck(name, None, False, str(node.get("description") or ""))
        if name in seen:
            continue
        seen.add(name)
        checks.append(Check(name=name, state=t.cast(t.Any, state), url=url))
        if state == "failing":
            failing.append(ref)
    return checks, failing


def comments_of(pr: dict[str, t.Any], bots: t.Any) -> list[ReviewComment]:
    """Review feedback still to address: unresolved threads and review bodies, by id."""
    out: dict[str, ReviewComment] = {}
    for thread in _nodes(pr.get("reviewThreads")):
        if thread.get("isResolved"):
            continue
        for c in _nodes(thread.get("comments")):
            if c.get("isMinimized") or not bots_allowed(bots, c.get("author")):
                continue
            cid = str(c.get("id") or "")
            if not cid or cid in out:
                continue
            line = c.get("line") or c.get("originalLine") or thread.get("line")
            out[cid] = ReviewComment(
                id=cid, author=_login(c.get("author")), body=str(c.get("body") or ""),
                path=str(c.get("path") or thread.get("path") or ""),
                line=int(line) if isinstance(line, int) else None,
            )  # fmt: skip
    for review in _nodes(pr.get("latestReviews")):
        body = str(review.get("body") or "").strip()
        rid = str(review.get("id") or "")
        if not body or not rid or rid in out:
            continue
        if review.get("state") not in ("CHANGES_REQUESTED", "COMMENTED"):
            continue
        if bots_allowed(bots, review.get("author")):
            out[rid] = ReviewComment(id=rid, author=_login(review.get("author")), body=body)
    return list(out.values())


def pr_state_of(pr: dict[str, t.Any], bots: t.Any) -> tuple[PrState, list[FailingCheck]]:
    """A GraphQL ``PullRequest`` (the ``AoPr`` fragment) as a ``PrState``."""
    commits = _nodes(pr.get("commits"))
    commit = commits[-1].get("commit") if commits else None
    checks, failing = checks_of(commit or {})
    mergeable = {"MERGEABLE": True, "CONFLICTING": False}.get(str(pr.get("mergeable")))
    conflicts = pr.get("mergeable") == "CONFLICTING" or pr.get("mergeStateStatus") == "DIRTY"
    state = PrState(
        number=int(pr["number"]),
        url=str(pr.get("url") or ""),
        state=t.cast(t.Any, str(pr.get("state") or "OPEN").lower()),
        head_sha=str(pr.get("headRefOid") or ""),
        draft=bool(pr.get("isDraft")),
        checks=tuple(checks),
        review_decision=t.cast(t.Any, _REVIEW.get(str(pr.get("reviewDecision")), "none")),
        comments=tuple(comments_of(pr, bots)),
        mergeable=mergeable,
        conflicts=conflicts,
        labels=tuple(str(n.get("name")) for n in _nodes(pr.get("labels"))),
    )
    return state, failing


def pick(nodes: list[t.Any], repo: str) -> dict[str, t.Any] | None:
    """The newest PR whose head is in ``repo`` itself (a fork's same-named branch is not ours)."""
    for node in nodes:
        if not isinstance(node, dict):
            continue
        head = node.get("headRepository") or {}
        if str(head.get("nameWithOwner", "")).lower() == repo.lower():
            return node
    return None


def state_to_json(state: PrState) -> dict[str, t.Any]:
    """A ``PrState`` as JSON-able data (for the on-disk snapshot)."""
    return dataclasses.asdict(state)


def state_from_json(doc: dict[str, t.Any]) -> PrState:
    """The inverse of ``state_to_json``."""
    fields = {f.name for f in dataclasses.fields(PrState)}
    return PrState(
        **{
            **{k: v for k, v in doc.items() if k in fields},
            "checks": tuple(Check(**c) for c in doc.get("checks", [])),
            "comments": tuple(ReviewComment(**c) for c in doc.get("comments", [])),
            "labels": tuple(doc.get("labels", [])),
        }
    )
