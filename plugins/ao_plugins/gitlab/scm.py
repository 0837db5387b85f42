"""``GitLabScm``: merge-request states from two list calls per tick, details only on change.

``pr_states`` keeps a snapshot per project on disk (``$AO_HOME/cache/gitlab/``) and a
*watermark* for two lists GitLab sorts by update time:

* ``GET /projects/:id/merge_requests?state=all&order_by=updated_at&sort=desc`` — any
  push, new/closed/merged MR, comment, label or draft change moves an MR to the top;
* ``GET /projects/:id/pipelines?order_by=updated_at&sort=desc`` — CI progress.

A pass reads each list from the top until it is past the previous pass's watermark
(usually one page) — every MR and pipeline updated since is on those pages — and reuses
the snapshot for the rest. Per open MR, details are fetched only when they may have
changed: the head pipeline when a pipeline of its head moved (its failed jobs and their
traces only once it failed), approvals and discussions when the MR's ``updated_at``
moved. Every GET is conditional (ETags kept on disk). Snapshot entries older than
``maxAge`` seconds, and MRs whose mergeability GitLab has not computed yet, are read
afresh. The snapshot is written only after a whole pass succeeded, so a pass cut short
(a rate limit) never marks a change as seen.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import typing as t
from collections.abc import Callable, Mapping, Sequence

import httpx

from ao.sdk.contracts import API_VERSION, PrOpening, PrState, Scm
from ao.sdk.errors import AoError, ConflictError, RateLimitError, UsageError
from ao.sdk.forge import one_line
from ao.sdk.httpcache import DiskCache
from ao_plugins.gitlab import mr as m
from ao_plugins.gitlab.client import (
    GitLabClient,
    error_for,
    message_of,
    project_id,
    timestamp,
)
from ao_plugins.gitlab.logs import trim_trace

SNAPSHOT_VERSION = 1
STRATEGIES = ("merge", "squash", "rebase")
MAX_LOG_BYTES = 64 * 1024 * 1024
BY_BRANCH_MAX = 3  # up to this many unlisted branches are looked up one by one


@dataclasses.dataclass
class Listing:
    """What the merge-request list said this pass."""

    found: dict[str, dict[str, t.Any]]  # wanted branch -> its newest MR (``mr_fields``)
    covered: set[str]  # branches whose MR (or lack of one) the snapshot knows as of ``mark``
    mark: float | None
    others: dict[str, dict[str, t.Any]]  # covered, unwanted branches seen on the pages


@dataclasses.dataclass
class Pipes:
    """What the pipeline list said this pass."""

    items: list[dict[str, t.Any]]
    mark: float | None
    certain: bool  # read back to the previous watermark: every pipeline updated since is here
    complete: bool  # read to the end: every pipeline of the project is here


class GitLabScm(Scm, PrOpening):
    """Merge requests and pipelines on gitlab.com or a self-managed GitLab.

    Options (all optional): ``url``, ``tokenEnv``, ``timeout``, ``retries``, ``maxWait``,
    ``reserve`` (fraction of the rate limit kept back from polling, default 0.2),
    ``maxAge`` (seconds a snapshot entry is trusted, 600), ``maxPages`` (list pages read
    per pass, 5), ``reviewBots`` (false, true or a list of usernames whose discussions
    count), ``deleteBranch`` (remove the source branch on merge, true), ``maxLogs`` (job
    traces downloaded per pass, 10), ``concurrency`` (parallel requests, 8),
    ``rebaseTimeout`` (seconds to wait for a rebase, 120).
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
        self.max_age = float(opts.get("maxAge", 600.0))
        self.max_pages = max(1, int(opts.get("maxPages", 5)))
        self.bots = opts.get("reviewBots", False)
        self.delete_branch = bool(opts.get("deleteBranch", True))
        self.max_logs = int(opts.get("maxLogs", 10))
        self.workers = max(1, int(opts.get("concurrency", 8)))
        self.rebase_timeout = float(opts.get("rebaseTimeout", 120.0))
        self.snapshots = DiskCache(self.client.root, "snapshots")
        self.logs = DiskCache(self.client.root, "logs")
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ pr_states

    def pr_states(self, repo: str, branches: Sequence[str]) -> dict[str, PrState]:
        """The newest merge request of each branch that has one (see the module docstring)."""
        pid = project_id(repo)
        wanted = sorted({b for b in branches if b})
        if not wanted:
            return {}
        try:
            old = self._load(repo)
            listing = self._list_mrs(pid, repo, wanted, old)
            prev: dict[str, t.Any] = old["mrs"]
            opened = {b: mr for b, mr in listing.found.items() if m.is_open(mr)}
            pipes = Pipes([], old["pl_mark"], certain=True, complete=False)
            if opened:
                pipes = self._list_pipelines(pid, repo, old["pl_mark"])
            now = self.client.clock()

            def refresh(branch: str) -> dict[str, t.Any]:
                return self._refresh(
                    pid,
                    opened[branch],
                    prev.get(branch),
                    pipes,
                    old_mark=old["pl_mark"],
                    now=now,
                )

            entries: dict[str, dict[str, t.Any]] = {
                b: {"mr": mr} for b, mr in listing.found.items() if b not in opened
            }
            entries.update(zip(opened, self._map(refresh, list(opened)), strict=True))
            for entry in entries.values():
                entry["ci_mark"] = pipes.mark
            self._attach_logs(pid, [e for b, e in entries.items() if b in opened])
            mrs = {b: e for b, e in prev.items() if b in listing.covered and b not in wanted}
            for b, mr in listing.others.items():
                keep = prev.get(b, {})
                unchanged = keep.get("mr", {}).get("updated_at") == mr["updated_at"]
                mrs[b] = {**keep, "mr": mr} if unchanged else {"mr": mr}
            mrs.update(entries)
            self._save(
                repo,
                {
                    "v": SNAPSHOT_VERSION,
                    "repo": repo,
                    "mr_mark": listing.mark,
                    "pl_mark": pipes.mark,
                    "covered": sorted(listing.covered),
                    "mrs": mrs,
                },
            )
            return {b: m.pr_state(e, self.bots) for b, e in entries.items()}
        finally:
            self.client.budget.save()

    def _map(self, fn: Callable[[str], dict[str, t.Any]], items: list[str]) -> list[t.Any]:
        if len(items) <= 1 or self.workers == 1:
            return [fn(x) for x in items]
        with concurrent.futures.ThreadPoolExecutor(min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))

    def _key(self, repo: str) -> str:
        return f"snapshot:{repo.strip('/').lower()}"

    def _load(self, repo: str) -> dict[str, t.Any]:
        doc = self.snapshots.get(self._key(repo))
        if isinstance(doc, dict) and doc.get("v") == SNAPSHOT_VERSION:
            return doc
        return {"mr_mark": None, "pl_mark": None, "covered": [], "mrs": {}}

    def _save(self, repo: str, snap: dict[str, t.Any]) -> None:
        self.snapshots.put(self._key(repo), snap)

    def forget(self, repo: str) -> None:
        """Drop the snapshot of ``repo`` so the next ``pr_states`` reads everything afresh."""
        self.snapshots.delete(self._key(repo))

    # ------------------------------------------------------------------ the two lists

    def _list_mrs(self, pid: str, repo: str, wanted: list[str], old: dict[str, t.Any]) -> Listing:
        """Read the MR list from the top until the watermark; look up what it cannot tell."""
        prev_mark: float | None = old["mr_mark"]
        covered_prev = set(old["covered"])
        seen: dict[str, dict[str, t.Any]] = {}
        marks = [prev_mark] if prev_mark is not None else []
        reached = exhausted = False
        page, pages = 1, 0
        pending = list(wanted)
        while True:
            body, nxt = self.client.get_page(
                f"/projects/{pid}/merge_requests",
                {
                    "state": "all",
                    "order_by": "updated_at",
                    "sort": "desc",
                    "per_page": 100,
                    "page": page,
                },
                what=f"merge requests of {repo}",
            )
            pages += 1
            for doc in body if isinstance(body, list) else []:
                if not m.own(doc):
                    continue
                mr = m.mr_fields(doc)
                if (ts := timestamp(mr["updated_at"])) is not None:
                    marks.append(ts)
                branch = mr["source_branch"]
                if branch not in seen or mr["iid"] > seen[branch]["iid"]:
                    seen[branch] = mr
            last = timestamp(body[-1].get("updated_at")) if body else None
            if prev_mark is not None and last is not None and last < prev_mark:
                reached = True
            if nxt is None or not body:
                exhausted = reached = True
                break
            pending = [b for b in wanted if b not in seen and not (reached and b in covered_prev)]
            if len(pending) <= BY_BRANCH_MAX or pages >= self.max_pages:
                break
            page = nxt
        found: dict[str, dict[str, t.Any]] = {}
        for b in wanted:
            known = old["mrs"].get(b, {}).get("mr") if b in covered_prev else None
            if b in seen:
                newer = known and not exhausted and reached and known["iid"] > seen[b]["iid"]
                found[b] = known if newer and known else seen[b]
            elif reached and (exhausted or b in covered_prev):
                if known and not exhausted:
                    found[b] = known
            else:
                lookup = self._by_branch(pid, repo, b)
                if lookup is not None:
                    found[b] = lookup
        # unwanted branches stay covered while their MR is open (bounds the snapshot)
        still_open = {b for b in covered_prev if m.is_open(old["mrs"].get(b, {}).get("mr") or {})}
        covered = set(wanted) | (still_open if reached else set())
        others = {b: mr for b, mr in seen.items() if b in covered and b not in found}
        return Listing(found, covered, max(marks) if marks else None, others)

    def _by_branch(self, pid: str, repo: str, branch: str) -> dict[str, t.Any] | None:
        docs = self.client.get_json(
            f"/projects/{pid}/merge_requests",
            {
                "source_branch": branch,
                "state": "all",
                "order_by": "created_at",
                "sort": "desc",
                "per_page": 20,
            },
            what=f"merge requests of {repo} from {branch}",
        )
        mine = [m.mr_fields(d) for d in docs or [] if m.own(d)]
        return max(mine, key=lambda x: x["iid"]) if mine else None

    def _list_pipelines(self, pid: str, repo: str, old_mark: float | None) -> Pipes:
        """Pipelines updated since the watermark (the first page when there is none)."""
        pipes = Pipes([], old_mark, certain=False, complete=False)
        marks = [old_mark] if old_mark is not None else []
        page, pages = 1, 0
        while True:
            body, nxt = self.client.get_page(
                f"/projects/{pid}/pipelines",
                {"order_by": "updated_at", "sort": "desc", "per_page": 100, "page": page},
                what=f"pipelines of {repo}",
            )
            pages += 1
            pipes.items += [p for p in body or [] if isinstance(p, dict)]
            marks += [ts for p in body or [] if (ts := timestamp(p.get("updated_at"))) is not None]
            last = timestamp(body[-1].get("updated_at")) if body else None
            if nxt is None or not body:
                pipes.certain = pipes.complete = True
                break
            if old_mark is not None and last is not None and last < old_mark:
                pipes.certain = True
                break
            if old_mark is None or pages >= self.max_pages:
                break
            page = nxt
        pipes.mark = max(marks) if marks else None
        return pipes

    # ------------------------------------------------------------------ one merge request

    def _refresh(
        self,
        pid: str,
        mr: dict[str, t.Any],
        prev: dict[str, t.Any] | None,
        pipes: Pipes,
        *,
        old_mark: float | None,
        now: float,
    ) -> dict[str, t.Any]:
        """The snapshot entry of one open MR, fetching only what may have changed."""
        base = f"/projects/{pid}/merge_requests/{mr['iid']}"
        what = f"merge request !{mr['iid']}"
        if prev is not None and prev.get("mr", {}).get("iid") != mr["iid"]:
            prev = None
        # spread re-reads over passes: 75-97% of maxAge, by iid
        limit = self.max_age * (0.75 + (mr["iid"] % 8) / 32)
        stale = prev is not None and now - float(prev.get("reviewed", 0)) >= limit
        pipeline: dict[str, t.Any] | None = None
        resolved = False
        if not stale and not m.mergeability_unknown(mr):
            # the list vouches for the known pipeline if it was read back to where ao last
            # looked (and the head did not move); it knows everything if read to its end
            vouched = (
                prev is not None
                and pipes.certain
                and prev.get("ci_mark") == old_mark
                and prev.get("pipeline_sha") == mr["sha"]
            )
            known = prev.get("pipeline") if prev is not None and vouched else None
            trusted = vouched or pipes.complete
            pipeline, resolved = head_pipeline(mr, known, pipes.items, trusted=trusted)
        if not resolved:  # ask GitLab (this also starts its mergeability check)
            doc = self.client.get_json(base, what=what)
            mr = {**m.mr_fields(doc), "source_branch": mr["source_branch"]}
            head = doc.get("head_pipeline")
            pipeline = _pipeline(head) if isinstance(head, dict) else None
        entry: dict[str, t.Any] = {"mr": mr, "pipeline": pipeline, "pipeline_sha": mr["sha"]}
        key = f"{pipeline['id']}:{pipeline['status']}" if pipeline else "none"
        if prev is not None and prev.get("ci_key") == key and prev.get("pipeline_sha") == mr["sha"]:
            entry["checks"] = prev.get("checks") or []
        else:
            jobs: list[t.Any] = []
            if pipeline and pipeline["status"] in m.PIPELINE_FAIL:
                jobs = self.client.get_all(
                    f"/projects/{pid}/pipelines/{pipeline['id']}/jobs",
                    {"scope[]": ["failed"]},
                    what=f"jobs of {what}",
                )
            entry["checks"] = m.pipeline_checks(pipeline, jobs)
        entry["ci_key"] = key
        if stale or prev is None or prev.get("review_at") != mr["updated_at"]:
            approvals = self.client.get_json(f"{base}/approvals", what=f"approvals of {what}")
            notes = self.client.get_all(f"{base}/discussions", what=f"discussions of {what}")
            entry |= {
                "approval": m.approval_of(approvals),
                "discussions": m.discussions_of(notes, mr["author"]),
                "review_at": mr["updated_at"],
                "reviewed": now,
            }
        else:
            entry |= {k: prev.get(k) for k in ("approval", "discussions", "review_at", "reviewed")}
        return entry

    def _attach_logs(self, pid: str, entries: list[dict[str, t.Any]]) -> None:
        """Fill in the trace excerpt of each failing job (cached by job id; ``maxLogs`` a pass)."""
        todo = [
            c
            for e in entries
            for c in e.get("checks") or []
            if c.get("job_id") and not c.get("log_excerpt")
        ]
        fetched = 0
        for check in todo:
            key = f"{pid}:{check['job_id']}"
            cached = self.logs.get(key)
            if isinstance(cached, str):
                check["log_excerpt"] = cached
                continue
            if fetched >= self.max_logs:
                self.warnings.append(f"log excerpts limited to {self.max_logs} jobs per pass")
                break
            fetched += 1
            try:
                lines = self.client.stream_lines(
                    f"/projects/{pid}/jobs/{check['job_id']}/trace", max_bytes=MAX_LOG_BYTES
                )
                text = trim_trace(lines) or "(the job's log is empty)"
            except RateLimitError:
                raise
            except AoError as exc:
                check["log_excerpt"] = f"(log unavailable: {exc.message})"
                continue
            self.logs.put(key, text)  # a finished job's trace never changes; retries get new ids
            check["log_excerpt"] = text

    # ------------------------------------------------------------------ actions

    def merge(self, repo: str, pr: PrState, strategy: str) -> None:
        """Merge ``pr`` only at the head SHA ao evaluated (GitLab refuses if someone pushed)."""
        if strategy not in STRATEGIES:
            raise UsageError(f"unknown merge strategy {strategy!r}", hint="merge, squash, rebase")
        pid = project_id(repo)
        base = f"/projects/{pid}/merge_requests/{pr.number}"
        sha = self._rebase(base, pr) if strategy == "rebase" else pr.head_sha
        body: dict[str, t.Any] = {
            "squash": strategy == "squash",
            "should_remove_source_branch": self.delete_branch,
        }
        if sha:
            body["sha"] = sha
        resp = self.client.request("PUT", f"{base}/merge", json=body, essential=True)
        if resp.status_code == 200:
            return
        if resp.status_code == 405:  # not mergeable now: say why (or it is merged already)
            info = self.client.request("GET", base, essential=True)
            doc = info.json() if info.status_code == 200 else {}
            if doc.get("state") == "merged":
                return
            why = doc.get("detailed_merge_status") or doc.get("state") or "unknown"
            raise ConflictError(
                f"GitLab refused to merge !{pr.number} ({message_of(resp)}): it is {why}",
                hint="see the merge request on GitLab; ao tries again when its state changes",
            )
        if resp.status_code == 409:
            raise ConflictError(
                f"GitLab refused to merge !{pr.number}: its branch moved since ao looked "
                f"(409: {message_of(resp)})",
                hint="ao re-reads the merge request and decides again on the next pass",
            )
        raise error_for(resp, f"merge of !{pr.number}")

    def _rebase(self, base: str, pr: PrState) -> str:
        """Rebase the MR's branch onto its target (at ``pr.head_sha`` only); the new head SHA."""
        resp = self.client.request("GET", base, essential=True)
        if resp.status_code != 200:
            raise error_for(resp, f"rebase of !{pr.number}")
        before = resp.json()
        if pr.head_sha and before.get("sha") != pr.head_sha:
            raise ConflictError(
                f"GitLab refused to rebase !{pr.number}: its branch moved since ao looked",
                hint="ao re-reads the merge request and decides again on the next pass",
            )
        resp = self.client.request("PUT", f"{base}/rebase", essential=True)
        if resp.status_code != 202:
            raise error_for(resp, f"rebase of !{pr.number}")
        deadline, delay = self.client.clock() + self.rebase_timeout, 1.0
        while True:
            resp = self.client.request(
                "GET", base, params={"include_rebase_in_progress": "true"}, essential=True
            )
            if resp.status_code != 200:
                raise error_for(resp, f"rebase of !{pr.number}")
            doc = resp.json()
            if not doc.get("rebase_in_progress"):
                if doc.get("sha") == before.get("sha") and doc.get("merge_error"):
                    raise ConflictError(
                        f"GitLab could not rebase !{pr.number}: {message_of_text(doc)}",
                        hint="resolve the conflicts on the branch (or ask the agent to)",
                    )
                return str(doc.get("sha") or "")
            if self.client.clock() >= deadline:
                raise AoError(
                    f"the rebase of !{pr.number} did not finish in {self.rebase_timeout:.0f}s",
                    hint="try the merge again later",
                )
            self.client.sleep(delay)
            delay = min(delay * 2, 8.0)

    def open_pr(
        self, repo: str, *, head: str, base: str, title: str, body: str = "", draft: bool = False
    ) -> PrState:
        """Open a merge request from ``head`` into ``base`` (or return the open one)."""
        pid = project_id(repo)
        if draft and not title.lower().startswith(("draft:", "[draft]", "(draft)")):
            title = f"Draft: {title}"
        payload = {
            "source_branch": head,
            "target_branch": base,
            "title": title,
            "description": body,
            "remove_source_branch": self.delete_branch,
        }
        resp = self.client.request(
            "POST", f"/projects/{pid}/merge_requests", json=payload, essential=True
        )
        if resp.status_code == 409:  # "Another open merge request already exists…"
            existing = self.client.request(
                "GET",
                f"/projects/{pid}/merge_requests",
                params={"source_branch": head, "state": "opened"},
                essential=True,
            )
            mine = [d for d in existing.json() if m.own(d)] if existing.status_code == 200 else []
            if mine:
                return m.pr_state({"mr": m.mr_fields(mine[0])}, self.bots)
        if resp.status_code != 201:
            raise error_for(resp, f"opening a merge request for {head}")
        return m.pr_state({"mr": m.mr_fields(resp.json())}, self.bots)


def message_of_text(doc: Mapping[str, t.Any]) -> str:
    """A merge request's ``merge_error`` as safe one-line text."""
    return one_line(str(doc.get("merge_error") or ""))[:300]


def _pipeline(doc: Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {
        "id": int(doc["id"]),
        "status": str(doc.get("status") or ""),
        "web_url": str(doc.get("web_url") or ""),
    }


def head_pipeline(
    mr: Mapping[str, t.Any],
    known: dict[str, t.Any] | None,
    pipes: list[dict[str, t.Any]],
    *,
    trusted: bool,
) -> tuple[dict[str, t.Any] | None, bool]:
    """The MR's head pipeline from the recent-pipelines list: (it, whether it is certain).

    A pipeline of the head SHA on the source branch or ``refs/merge-requests/IID/head``
    newer than the one ao knew is the new head pipeline; the known one may have changed
    status. A new merged-results pipeline (``…/merge``, ``…/train``) runs on a merge
    commit the list cannot tie to the head, so it is left to GitLab to say (uncertain).
    """
    iid, sha = mr["iid"], mr["sha"]
    head_refs = {mr["source_branch"], f"refs/merge-requests/{iid}/head"}
    merge_refs = {f"refs/merge-requests/{iid}/merge", f"refs/merge-requests/{iid}/train"}
    known_id = int(known["id"]) if known else 0
    if any(p.get("ref") in merge_refs and int(p["id"]) > known_id for p in pipes):
        return None, False
    mine = [
        p
        for p in pipes
        if int(p["id"]) == known_id or (p.get("ref") in head_refs and p.get("sha") == sha)
    ]
    newest = max(mine, key=lambda p: int(p["id"]), default=None)
    if newest is not None and int(newest["id"]) >= known_id:
        return _pipeline(newest), True
    return known, trusted
