"""``GitHubScm``: pull-request states in batched GraphQL, skipped entirely while nothing changed.

``pr_states`` keeps a snapshot per repository on disk (``$AO_HOME/cache/github/``) with
the ETags of cheap REST "probes" taken when it was built:

* the repository's pull list sorted by update time (``per_page=1``): any push, new or
  closed PR, review, comment or label change moves it;
* per open PR, the head commit's check runs and combined status: CI progress;
* per base branch of an open PR, the branch: a moved base can create conflicts.

A pass first sends every probe with ``If-None-Match``. When all answer 304 (free of
primary rate limit on GitHub) the snapshot is the answer: zero GraphQL queries. Any
change, a snapshot older than ``maxAge`` seconds (default 600; it bounds what probes
cannot see, such as a resolved review thread) or a PR whose mergeability GitHub has
not computed yet triggers a fresh query: one GraphQL request per 25 branches. Probe
ETags are stored only together with the snapshot they describe, so a pass that fails
half-way (a rate limit) never marks a change as seen. Probes of a new head commit can
only be taken after the query that revealed it; a change in the moments between the
two is seen at the latest when the snapshot expires.
"""

from __future__ import annotations

import concurrent.futures
import typing as t
from collections.abc import Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

import httpx

from ao.sdk.contracts import API_VERSION, PrOpening, PrState, Scm
from ao.sdk.errors import AoError, RateLimitError, UsageError
from ao.sdk.httpcache import DiskCache
from ao_plugins.github import queries as q
from ao_plugins.github.client import GitHubClient, error_for, split_repo
from ao_plugins.github.logs import summary_excerpt, trim_log

SNAPSHOT_VERSION = 1
STRATEGIES = ("merge", "squash", "rebase")
MAX_LOG_BYTES = 64 * 1024 * 1024


class GitHubScm(Scm, PrOpening):
    """Pull requests and CI on GitHub or GitHub Enterprise Server.

    Options (all optional): ``apiUrl``, ``graphqlUrl``, ``tokenEnv``, ``timeout``,
    ``retries``, ``maxWait``, ``reserve`` (fraction of each rate limit kept back from
    polling, default 0.2), ``maxAge`` (snapshot lifetime, seconds), ``reviewBots``
    (false, true or a list of bot logins whose review comments count), ``deleteBranch``
    (after a merge, default true), ``maxLogs`` (failing-job logs fetched per pass, 10),
    ``probeConcurrency`` (parallel conditional requests, default 8).
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
        self.max_age = float(opts.get("maxAge", 600.0))
        self.bots = opts.get("reviewBots", False)
        self.delete_branch = bool(opts.get("deleteBranch", True))
        self.max_logs = int(opts.get("maxLogs", 10))
        self.workers = max(1, int(opts.get("probeConcurrency", 8)))
        self.snapshots = DiskCache(self.client.root, "snapshots")
        self.logs = DiskCache(self.client.root, "logs")
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ pr_states

    def pr_states(self, repo: str, branches: Sequence[str]) -> dict[str, PrState]:
        """The newest PR of each branch that has one: probes first, GraphQL only on change."""
        owner, name = split_repo(repo)
        wanted = sorted({b for b in branches if b})
        if not wanted:
            return {}
        try:
            snap = self._load(repo)
            now = self.client.clock()
            known: dict[str, str | None] = dict(snap["probes"]) if snap else {}
            if snap and self._trusted(snap, now):
                changed, known = self._probe(known)
                if not changed:
                    missing = [b for b in wanted if b not in snap["branches"]]
                    if missing:
                        found = self._query(owner, name, repo, missing)
                        snap["prs"].update(found)
                        snap["branches"] = sorted({*snap["branches"], *missing})
                        snap["probes"] = self._capture(repo, snap["prs"], known)
                        self._save(repo, snap)
                    return self._answer(snap, wanted)
            else:  # re-validate what is known and take the pull-list ETag before querying
                pulls = self._pulls_probe(repo)
                _, known = self._probe({**known, pulls: known.get(pulls)})
            found = self._query(owner, name, repo, wanted)
            snap = {"v": SNAPSHOT_VERSION, "repo": repo, "fetched_at": now,
                    "branches": wanted, "prs": found}  # fmt: skip
            snap["probes"] = self._capture(repo, found, known)
            self._save(repo, snap)
            return self._answer(snap, wanted)
        finally:
            self.client.budget.save()

    def _answer(self, snap: dict[str, t.Any], wanted: Iterable[str]) -> dict[str, PrState]:
        return {b: q.state_from_json(snap["prs"][b]) for b in wanted if b in snap["prs"]}

    def _key(self, repo: str) -> str:
        return f"snapshot:{repo.lower()}"

    def _load(self, repo: str) -> dict[str, t.Any] | None:
        doc = self.snapshots.get(self._key(repo))
        if not isinstance(doc, dict) or doc.get("v") != SNAPSHOT_VERSION:
            return None
        return doc

    def _save(self, repo: str, snap: dict[str, t.Any]) -> None:
        self.snapshots.put(self._key(repo), snap)

    def forget(self, repo: str) -> None:
        """Drop the snapshot of ``repo`` so the next ``pr_states`` queries afresh."""
        self.snapshots.delete(self._key(repo))

    def _trusted(self, snap: dict[str, t.Any], now: float) -> bool:
        if self.max_age <= 0 or now - float(snap.get("fetched_at", 0)) >= self.max_age:
            return False
        # GitHub computes mergeability lazily after a push: ask again until it has
        return not any(
            pr["state"] == "open" and pr.get("mergeable") is None for pr in snap["prs"].values()
        )

    # ------------------------------------------------------------------ probes

    def _pulls_probe(self, repo: str) -> str:
        return self.client.url(
            f"/repos/{repo}/pulls?state=all&sort=updated&direction=desc&per_page=1"
        )

    def _probe_urls(self, repo: str, prs: Mapping[str, t.Any]) -> list[str]:
        urls = [self._pulls_probe(repo)]
        for pr in prs.values():
            if pr["state"] != "open" or not pr.get("head_sha"):
                continue
            sha = pr["head_sha"]
            urls.append(self.client.url(f"/repos/{repo}/commits/{sha}/check-runs?per_page=100"))
            urls.append(self.client.url(f"/repos/{repo}/commits/{sha}/status?per_page=100"))
            if pr.get("base"):
                urls.append(self.client.url(f"/repos/{repo}/branches/{quote(pr['base'])}"))
        return sorted(set(urls))

    def _probe(self, known: Mapping[str, str | None]) -> tuple[bool, dict[str, str | None]]:
        """Conditional GETs of every URL in ``known``: (anything changed, current ETags)."""
        urls = sorted(known)
        if len(urls) <= 1 or self.workers == 1:
            results = [self.client.probe(u, known[u]) for u in urls]
        else:
            with concurrent.futures.ThreadPoolExecutor(min(self.workers, len(urls))) as pool:
                results = list(pool.map(lambda u: self.client.probe(u, known[u]), urls))
        etags = {u: etag for u, (_, etag) in zip(urls, results, strict=True)}
        return any(changed for changed, _ in results), etags

    def _capture(
        self, repo: str, prs: Mapping[str, t.Any], known: Mapping[str, str | None]
    ) -> dict[str, str | None]:
        """ETags of every probe the snapshot ``prs`` needs; fetches those not yet known."""
        urls = self._probe_urls(repo, prs)
        new = {u: None for u in urls if u not in known}
        _, fetched = self._probe(new) if new else (False, {})
        return {u: known[u] if u in known else fetched.get(u) for u in urls}

    # ------------------------------------------------------------------ the query

    def _query(
        self, owner: str, name: str, repo: str, branches: Sequence[str]
    ) -> dict[str, dict[str, t.Any]]:
        """PR states of ``branches`` as snapshot entries: one GraphQL request per 25."""
        found: dict[str, dict[str, t.Any]] = {}
        pending_logs: list[tuple[str, q.FailingCheck]] = []
        for start in range(0, len(branches), q.BATCH):
            chunk = list(branches[start : start + q.BATCH])
            data = self.client.graphql(
                q.batch_query(len(chunk)),
                q.batch_variables(owner, name, chunk),
                what=f"pull requests of {repo}",
            )
            repository = data.get("repository")
            if repository is None:
                raise AoError(f"GitHub has no repository {repo!r} visible to this token")
            for i, branch in enumerate(chunk):
                node = q.pick((repository.get(f"b{i}") or {}).get("nodes") or [], repo)
                if node is None:
                    continue
                state, failing = q.pr_state_of(node, self.bots)
                entry = q.state_to_json(state)
                entry["base"] = node.get("baseRefName") or ""
                found[branch] = entry
                pending_logs += [(branch, f) for f in failing]
        self._attach_logs(repo, found, pending_logs)
        return found

    def _attach_logs(
        self,
        repo: str,
        found: dict[str, dict[str, t.Any]],
        failing: list[tuple[str, q.FailingCheck]],
    ) -> None:
        excerpts: dict[tuple[str, str], str] = {}
        for n, (branch, check) in enumerate(failing):
            if n >= self.max_logs:
                self.warnings.append(f"log excerpts limited to {self.max_logs} checks per pass")
                break
            try:
                excerpts[(branch, check.name)] = self.log_excerpt(repo, check)
            except RateLimitError:
                raise
            except AoError as exc:
                excerpts[(branch, check.name)] = f"(log unavailable: {exc.message})"
        for (branch, name), text in excerpts.items():
            for c in found[branch]["checks"]:
                if c["name"] == name:
                    c["log_excerpt"] = text

    def log_excerpt(self, repo: str, check: q.FailingCheck) -> str:
        """The trimmed log of a failing check: Actions job logs, else the check's output."""
        if check.check_run_id is None:
            return check.description
        key = f"{repo}:{check.check_run_id}"
        cached = self.logs.get(key)
        if isinstance(cached, str):
            return cached
        if check.actions:
            lines = self.client.stream_lines(
                f"/repos/{repo}/actions/jobs/{check.check_run_id}/logs", max_bytes=MAX_LOG_BYTES
            )
            text = trim_log(lines)
        else:
            run = self.client.get_json(f"/repos/{repo}/check-runs/{check.check_run_id}")
            output = run.get("output") or {}
            text = summary_excerpt(output.get("title"), output.get("summary"), output.get("text"))
        self.logs.put(key, text)  # a finished job's log never changes; reruns get new ids
        return text

    # ------------------------------------------------------------------ actions

    def merge(self, repo: str, pr: PrState, strategy: str) -> None:
        """Merge ``pr`` (only at the head SHA ao evaluated), then delete its branch."""
        if strategy not in STRATEGIES:
            raise UsageError(f"unknown merge strategy {strategy!r}", hint="merge, squash, rebase")
        split_repo(repo)
        what = f"merge of #{pr.number}"
        resp = self.client.request("GET", f"/repos/{repo}/pulls/{pr.number}", essential=True)
        if resp.status_code != 200:
            raise error_for(resp, what)
        info = resp.json()
        if not info.get("merged"):
            body: dict[str, str] = {"merge_method": strategy}
            if pr.head_sha:
                body["sha"] = pr.head_sha  # refuse if someone pushed since ao looked
            resp = self.client.request(
                "PUT", f"/repos/{repo}/pulls/{pr.number}/merge", json=body, essential=True
            )
            if resp.status_code != 200:
                raise error_for(resp, what)
        self.forget(repo)
        head = info.get("head") or {}
        head_repo = str((head.get("repo") or {}).get("full_name") or "")
        if self.delete_branch and head.get("ref") and head_repo.lower() == repo.lower():
            self._delete_branch(repo, str(head["ref"]))

    def _delete_branch(self, repo: str, branch: str) -> None:
        resp = self.client.request(
            "DELETE", f"/repos/{repo}/git/refs/heads/{quote(branch)}", essential=True
        )
        # 422/404: already gone (e.g. the repository deletes head branches itself)
        if resp.status_code not in (204, 404, 422):
            self.warnings.append(f"could not delete branch {branch}: {error_for(resp, 'delete')}")

    def open_pr(
        self, repo: str, *, head: str, base: str, title: str, body: str = "", draft: bool = False
    ) -> PrState:
        """Open a pull request from ``head`` into ``base`` (or return the open one)."""
        owner, _ = split_repo(repo)
        payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
        resp = self.client.request("POST", f"/repos/{repo}/pulls", json=payload, essential=True)
        if resp.status_code == 422 and "already exists" in resp.text:
            existing = self.client.request(
                "GET", f"/repos/{repo}/pulls", params={"head": f"{owner}:{head}", "state": "open"},
                essential=True,
            )  # fmt: skip
            if existing.status_code == 200 and existing.json():
                return self._rest_state(existing.json()[0])
        if resp.status_code != 201:
            raise error_for(resp, f"opening a pull request for {head}")
        self.forget(repo)
        return self._rest_state(resp.json())

    @staticmethod
    def _rest_state(doc: dict[str, t.Any]) -> PrState:
        state = "merged" if doc.get("merged_at") else str(doc.get("state") or "open")
        return PrState(
            number=int(doc["number"]),
            url=str(doc.get("html_url") or ""),
            state=t.cast(t.Any, state),
            head_sha=str((doc.get("head") or {}).get("sha") or ""),
            draft=bool(doc.get("draft")),
        )
