"""Pure mappings from GitLab's merge-request documents to ao's ``PrState``.

Nothing here talks to the network: ``scm.py`` fetches, these functions interpret, so the
state mapping is easy to read (and documented in docs/gitlab.md):

* ``state``: ``opened`` and ``locked`` (a merge in progress) → open; ``closed``; ``merged``.
* ``mergeable`` from ``detailed_merge_status``: ``mergeable`` → True; ``unchecked``,
  ``checking``, ``preparing``, ``approvals_syncing`` → None (GitLab computes it
  asynchronously); anything else (``conflict``, ``need_rebase``, ``ci_must_pass``,
  ``not_approved``, ``discussions_not_resolved``, ``draft_status``…) → False.
  ``conflicts`` is ``has_conflicts`` or ``conflict``.
* ``review_decision``: approved (the approvals API says approved and someone did) wins;
  else unresolved discussions opened by someone other than the author, or
  ``detailed_merge_status: requested_changes``, are ``changes_requested``; else
  ``review_required`` while approvals are missing; else ``none``.
* checks: the head pipeline — one ``pipeline`` check while it runs or once it passed;
  once it failed, one failing check per failed job (``allow_failure`` jobs excluded).
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from ao.sdk.contracts import Check, PrState, ReviewComment

UNKNOWN_MERGE = frozenset({"unchecked", "checking", "preparing", "approvals_syncing"})
_LEGACY_MERGE = {
    "can_be_merged": "mergeable",
    "cannot_be_merged": "conflict",
    "cannot_be_merged_recheck": "checking",
}
PIPELINE_PASS = frozenset({"success", "skipped"})
PIPELINE_FAIL = frozenset({"failed", "canceled"})
_STATE = {"opened": "open", "locked": "open", "closed": "closed", "merged": "merged"}
_BOT = re.compile(r"(?:^(?:project|group)_\d+_bot|[-_]bot$|\[bot\]$|^ghost$)", re.IGNORECASE)


def mr_fields(doc: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The fields of a merge request (list item or single) that ao keeps."""
    detailed = doc.get("detailed_merge_status") or _LEGACY_MERGE.get(
        str(doc.get("merge_status") or ""), "unchecked"
    )
    return {
        "iid": int(doc["iid"]),
        "web_url": str(doc.get("web_url") or ""),
        "state": str(doc.get("state") or "opened"),
        "sha": str(doc.get("sha") or ""),
        "draft": bool(doc.get("draft") or doc.get("work_in_progress")),
        "labels": [
            str(x.get("name") if isinstance(x, dict) else x) for x in doc.get("labels") or []
        ],
        "detailed_merge_status": str(detailed),
        "has_conflicts": bool(doc.get("has_conflicts")),
        "updated_at": str(doc.get("updated_at") or ""),
        "author": str((doc.get("author") or {}).get("username") or ""),
        "source_branch": str(doc.get("source_branch") or ""),
        "target_branch": str(doc.get("target_branch") or ""),
    }


def own(doc: t.Mapping[str, t.Any]) -> bool:
    """Whether a merge request comes from a branch of the project itself (not a fork)."""
    source, target = doc.get("source_project_id"), doc.get("project_id")
    return source is None or target is None or source == target


def is_open(mr: t.Mapping[str, t.Any]) -> bool:
    """Whether ``mr`` (``mr_fields``) is open (``opened`` or ``locked``)."""
    return mr.get("state") in ("opened", "locked")


def mergeability_unknown(mr: t.Mapping[str, t.Any]) -> bool:
    """Whether GitLab has yet to compute an open merge request's mergeability."""
    return mr.get("state") == "opened" and mr.get("detailed_merge_status") in UNKNOWN_MERGE


def is_bot(username: str) -> bool:
    """Bot users by GitLab's naming: project/group access-token bots, ``*-bot``, ``ghost``."""
    return bool(_BOT.search(username))


def bots_allowed(option: t.Any, username: str) -> bool:
    """Whether comments by ``username`` count (option ``reviewBots``: bool or usernames)."""
    if not is_bot(username):
        return True
    if isinstance(option, list | tuple):
        return username in option
    return bool(option)


def approval_of(doc: t.Any) -> str:
    """``approved``, ``review_required`` or ``none`` from the approvals API."""
    if not isinstance(doc, dict):
        return "none"
    approvers = [a for a in doc.get("approved_by") or [] if a]
    left = doc.get("approvals_left")
    approved = doc.get("approved")
    if approved is None and isinstance(left, int):
        approved = left == 0
    if approved and approvers:
        return "approved"
    if approved is False or (isinstance(left, int) and left > 0):
        return "review_required"
    return "none"


def discussions_of(docs: t.Iterable[t.Any], author: str) -> list[dict[str, t.Any]]:
    """Unresolved discussions opened by someone other than ``author``, as plain data."""
    out: list[dict[str, t.Any]] = []
    for d in docs:
        notes = [n for n in (d.get("notes") or []) if isinstance(n, dict) and not n.get("system")]
        if not notes or not any(n.get("resolvable") and not n.get("resolved") for n in notes):
            continue
        starter = str((notes[0].get("author") or {}).get("username") or "")
        if not starter or starter == author:
            continue
        kept = []
        for n in notes:
            pos = n.get("position") or {}
            line = pos.get("new_line") or pos.get("old_line")
            kept.append(
                {
                    "id": str(n.get("id") or ""),
                    "author": str((n.get("author") or {}).get("username") or ""),
                    "body": str(n.get("body") or ""),
                    "path": str(pos.get("new_path") or pos.get("old_path") or ""),
                    "line": int(line) if isinstance(line, int) else None,
                }
            )
        out.append({"id": str(d.get("id") or ""), "starter": starter, "notes": kept})
    return out


def review_of(
    discussions: t.Iterable[t.Mapping[str, t.Any]], bots: t.Any
) -> tuple[list[ReviewComment], bool]:
    """The comments to address and whether someone (allowed) asked for changes."""
    comments: dict[str, ReviewComment] = {}
    asked = False
    for d in discussions:
        if not bots_allowed(bots, str(d.get("starter") or "")):
            continue
        asked = True
        for n in d.get("notes") or []:
            if n["id"] and n["id"] not in comments and bots_allowed(bots, n["author"]):
                comments[n["id"]] = ReviewComment(
                    id=n["id"], author=n["author"], body=n["body"], path=n["path"], line=n["line"]
                )
    return list(comments.values()), asked


def pipeline_checks(
    pipeline: t.Mapping[str, t.Any] | None, jobs: t.Iterable[t.Any] = ()
) -> list[dict[str, t.Any]]:
    """Checks (as plain data) of a head pipeline and its failed jobs (``job_id`` to read)."""
    if not pipeline:
        return []
    status, url = str(pipeline.get("status") or ""), str(pipeline.get("web_url") or "")
    if status in PIPELINE_PASS:
        return [_check("pipeline", "passing", url)]
    if status not in PIPELINE_FAIL:
        return [_check("pipeline", "pending", url)]
    checks: list[dict[str, t.Any]] = []
    for job in jobs:
        if job.get("status") != "failed" or job.get("allow_failure"):
            continue
        name = str(job.get("name") or f"job {job.get('id')}")
        if any(c["name"] == name for c in checks):
            continue
        checks.append(_check(name, "failing", str(job.get("web_url") or ""), job_id=job.get("id")))
    if not checks:
        note = "the pipeline was canceled" if status == "canceled" else "the pipeline failed"
        checks.append(_check("pipeline", "failing", url, log_excerpt=note))
    return checks


def _check(name: str, state: str, url: str, **extra: t.Any) -> dict[str, t.Any]:
    return {"name": name, "state": state, "url": url, "log_excerpt": "", **extra}


def pr_state(entry: t.Mapping[str, t.Any], bots: t.Any) -> PrState:
    """The ``PrState`` of a snapshot entry (``mr`` fields plus fetched details)."""
    mr = entry["mr"]
    state = _STATE.get(mr["state"], "open")
    opened = mr["state"] == "opened"
    detailed = mr["detailed_merge_status"]
    mergeable = None if not opened or detailed in UNKNOWN_MERGE else detailed == "mergeable"
    comments, asked = review_of(entry.get("discussions") or [], bots)
    decision = str(entry.get("approval") or "none")
    if decision != "approved" and (asked or detailed == "requested_changes"):
        decision = "changes_requested"
    fields = {f.name for f in dataclasses.fields(Check)}
    checks = tuple(
        Check(**{k: v for k, v in c.items() if k in fields}) for c in entry.get("checks") or []
    )
    return PrState(
        number=mr["iid"],
        url=mr["web_url"],
        state=t.cast(t.Any, state),
        head_sha=mr["sha"],
        draft=mr["draft"],
        checks=checks if state == "open" else (),
        review_decision=t.cast(t.Any, decision),
        comments=tuple(comments),
        mergeable=mergeable,
        conflicts=state == "open" and (mr["has_conflicts"] or detailed == "conflict"),
        labels=tuple(mr["labels"]),
    )
