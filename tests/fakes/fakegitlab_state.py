"""The fake GitLab's state: projects, merge requests, pipelines, jobs, issues, and their JSON.

The JSON mirrors GitLab's REST API v4 documents closely enough that a plugin reading a
field GitLab does not send (or sends under another name) gets nothing from the fake
either: only the fields below exist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t
from pathlib import Path

EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
WEB = "https://gitlab.test"


def iso(tick: int) -> str:
    """A tick of the fake's clock as GitLab writes times (UTC, milliseconds)."""
    return (EPOCH + dt.timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def user(username: str) -> dict[str, t.Any]:
    return {"id": abs(hash(username)) % 100_000, "username": username, "name": username.title(),
            "state": "active", "web_url": f"{WEB}/{username}"}  # fmt: skip


@dataclasses.dataclass
class Note:
    id: int
    author: str
    body: str
    system: bool = False
    resolvable: bool = True
    resolved: bool = False
    path: str = ""
    line: int | None = None


@dataclasses.dataclass
class Discussion:
    id: str
    notes: list[Note]
    individual_note: bool = False


@dataclasses.dataclass
class Job:
    id: int
    pipeline_id: int
    name: str
    status: str = "failed"
    stage: str = "test"
    allow_failure: bool = False
    trace: str = ""


@dataclasses.dataclass
class Pipeline:
    id: int
    iid: int
    sha: str
    ref: str
    status: str
    created: int
    updated: int
    source: str = "push"
    source_sha: str | None = None  # merged-results pipelines: the MR head they test


@dataclasses.dataclass
class MR:
    iid: int
    id: int
    title: str
    source_branch: str
    target_branch: str
    sha: str
    author: str
    created: int
    updated: int
    description: str = ""
    state: str = "opened"  # opened | closed | merged | locked
    draft: bool = False
    labels: list[str] = dataclasses.field(default_factory=list)
    detailed_merge_status: str = "mergeable"
    recheck_to: str | None = None  # a GET of the MR finishes an unchecked/checking status
    has_conflicts: bool = False
    source_project_id: int | None = None  # None: the project itself (not a fork)
    discussions: list[Discussion] = dataclasses.field(default_factory=list)
    approved_by: list[str] = dataclasses.field(default_factory=list)
    approvals_required: int = 0
    squash: bool | None = None  # recorded by the merge
    removed_source_branch: bool | None = None
    merge_commit_sha: str | None = None
    merge_error: str | None = None
    rebase_polls: int = 0  # GETs that still report the rebase in progress
    rebase_in_progress: bool = False
    rebase_conflict: bool = False
    rebased: int = 0


@dataclasses.dataclass
class IssueRec:
    iid: int
    title: str
    description: str = ""
    labels: list[str] = dataclasses.field(default_factory=list)
    state: str = "opened"
    assignees: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    created: int = 0


@dataclasses.dataclass
class Project:
    id: int
    path: str
    default_branch: str = "main"
    branches: dict[str, str] = dataclasses.field(default_factory=dict)
    mrs: dict[int, MR] = dataclasses.field(default_factory=dict)
    issues: dict[int, IssueRec] = dataclasses.field(default_factory=dict)
    pipelines: dict[int, Pipeline] = dataclasses.field(default_factory=dict)
    jobs: dict[int, Job] = dataclasses.field(default_factory=dict)
    git_dir: Path | None = None


@dataclasses.dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: t.Any
    times: int


@dataclasses.dataclass
class Req:
    method: str
    path: str  # decoded, without /api/v4
    query: dict[str, list[str]]
    status: int
    conditional: bool = False
    token: str = ""


# ----------------------------------------------------------------------------- JSON


def mr_refs(mr: MR) -> set[str]:
    return {
        mr.source_branch,
        *(f"refs/merge-requests/{mr.iid}/{k}" for k in ("head", "merge", "train")),
    }


def head_pipeline(project: Project, mr: MR) -> Pipeline | None:
    """GitLab's rule: the newest pipeline of the MR's refs for its head SHA (or source SHA)."""
    mine = [p for p in project.pipelines.values()
            if p.ref in mr_refs(mr) and mr.sha in (p.sha, p.source_sha)]  # fmt: skip
    return max(mine, key=lambda p: p.id, default=None)


def pipeline_json(project: Project, p: Pipeline) -> dict[str, t.Any]:
    return {
        "id": p.id, "iid": p.iid, "project_id": project.id, "sha": p.sha, "ref": p.ref,
        "status": p.status, "source": p.source, "created_at": iso(p.created),
        "updated_at": iso(p.updated), "web_url": f"{WEB}/{project.path}/-/pipelines/{p.id}",
    }  # fmt: skip


def job_json(project: Project, j: Job) -> dict[str, t.Any]:
    p = project.pipelines[j.pipeline_id]
    return {
        "id": j.id, "name": j.name, "stage": j.stage, "status": j.status, "ref": p.ref,
        "allow_failure": j.allow_failure, "failure_reason": "script_failure" if j.status == "failed" else None,
        "web_url": f"{WEB}/{project.path}/-/jobs/{j.id}",
        "pipeline": {"id": p.id, "project_id": project.id, "sha": p.sha, "ref": p.ref, "status": p.status},
    }  # fmt: skip


_LEGACY = {"mergeable": "can_be_merged", "conflict": "cannot_be_merged", "unchecked": "unchecked",
           "checking": "checking"}  # fmt: skip


def mr_json(project: Project, mr: MR, *, detail: bool = False) -> dict[str, t.Any]:
    doc: dict[str, t.Any] = {
        "id": mr.id, "iid": mr.iid, "project_id": project.id, "title": mr.title,
        "description": mr.description, "state": mr.state, "created_at": iso(mr.created),
        "updated_at": iso(mr.updated), "target_branch": mr.target_branch,
        "source_branch": mr.source_branch, "author": user(mr.author),
        "source_project_id": mr.source_project_id or project.id, "target_project_id": project.id,
        "labels": list(mr.labels), "draft": mr.draft, "work_in_progress": mr.draft,
        "merge_when_pipeline_succeeds": False,
        "merge_status": _LEGACY.get(mr.detailed_merge_status, "cannot_be_merged"),
        "detailed_merge_status": mr.detailed_merge_status, "has_conflicts": mr.has_conflicts,
        "sha": mr.sha, "merge_commit_sha": mr.merge_commit_sha, "squash": bool(mr.squash),
        "user_notes_count": sum(len(d.notes) for d in mr.discussions),
        "web_url": f"{WEB}/{project.path}/-/merge_requests/{mr.iid}",
        "references": {"short": f"!{mr.iid}", "full": f"{project.path}!{mr.iid}"},
    }  # fmt: skip
    if detail:
        head = head_pipeline(project, mr)
        doc["head_pipeline"] = pipeline_json(project, head) if head else None
        doc["merge_error"] = mr.merge_error
    return doc


def approvals_json(project: Project, mr: MR) -> dict[str, t.Any]:
    left = max(mr.approvals_required - len(mr.approved_by), 0)
    return {
        "id": mr.id, "iid": mr.iid, "project_id": project.id, "title": mr.title,
        "state": mr.state, "approved": left == 0, "approvals_required": mr.approvals_required,
        "approvals_left": left, "approved_by": [{"user": user(u)} for u in mr.approved_by],
        "user_has_approved": False, "user_can_approve": True,
    }  # fmt: skip


def discussion_json(mr: MR, d: Discussion) -> dict[str, t.Any]:
    notes = []
    for n in d.notes:
        note: dict[str, t.Any] = {
            "id": n.id, "type": "DiffNote" if n.path else ("DiscussionNote" if not d.individual_note else None),
            "body": n.body, "author": user(n.author), "created_at": iso(0), "system": n.system,
            "noteable_id": mr.id, "noteable_type": "MergeRequest", "noteable_iid": mr.iid,
            "resolvable": n.resolvable, "resolved": n.resolved if n.resolvable else False,
            "resolved_by": None,
        }  # fmt: skip
        if n.path:
            note["position"] = {"base_sha": "b" * 40, "start_sha": "s" * 40, "head_sha": mr.sha,
                                "old_path": n.path, "new_path": n.path, "position_type": "text",
                                "old_line": None, "new_line": n.line}  # fmt: skip
        notes.append(note)
    return {"id": d.id, "individual_note": d.individual_note, "notes": notes}


def issue_json(project: Project, i: IssueRec) -> dict[str, t.Any]:
    return {
        "id": 10_000 + i.iid, "iid": i.iid, "project_id": project.id, "title": i.title,
        "description": i.description, "state": i.state, "labels": list(i.labels),
        "assignees": [user(a) for a in i.assignees],
        "assignee": user(i.assignees[0]) if i.assignees else None,
        "created_at": iso(i.created), "updated_at": iso(i.created),
        "web_url": f"{WEB}/{project.path}/-/issues/{i.iid}",
    }  # fmt: skip
