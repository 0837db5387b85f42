"""GitHub requests per `ao watch` tick (design §9: ⌈N/25⌉ GraphQL + conditional requests,
none but 304s when nothing changed). Run by `make bench` (bench/run.py), or on its own.

50 sessions whose branches have open pull requests in the fake GitHub
(``tests/fakes/fakegithub.py``, started in this process). Each tick is a real
``ao watch --once --json`` subprocess over session records written straight into a
throwaway AO_HOME: the records carry no tmux pane, so the watcher only reads the forge.
The fake counts every request it answers, by kind and status.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if t.TYPE_CHECKING:
    from tests.fakes.fakegithub import FakeGitHub

REPO = "acme/bench"
SESSIONS = 50
RETRY_AFTER = 5  # seconds of the scripted secondary limit: above maxWait, so a pause


class Bench:
    """The fake, the ao environment and the per-tick request counts."""

    def __init__(self, tmp: Path, fake: FakeGitHub) -> None:
        self.tmp, self.fake = tmp, fake
        self.env = {
            **os.environ, "AO_HOME": str(tmp / "home"), "AO_GITHUB_API_URL": fake.url,
            "GITHUB_TOKEN": fake.token, "AO_TMUX_SOCKET": f"ao-bench-gh-{os.getpid()}",
            "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid",
        }  # fmt: skip
        for name in ("TMUX", "AO_CONFIG", "GH_TOKEN"):
            self.env.pop(name, None)

    def tick(self) -> dict[str, t.Any]:
        """One ``ao watch --once`` with the fake's request log cleared before it."""
        self.fake.requests.clear()
        r = subprocess.run(
            [sys.executable, "-m", "ao", "watch", "--once", "--json"], env=self.env,
            cwd=self.tmp, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        data: dict[str, t.Any] = json.loads(r.stdout)["data"]
        return data

    def line(self, name: str, data: dict[str, t.Any], budget: str, extra: str = "") -> None:
        """One report line: GraphQL and REST requests of the last tick, REST by status."""
        reqs = self.fake.requests
        graphql = len([r for r in reqs if r.graphql is not None])
        rest = [r.status for r in reqs if r.graphql is None]
        counts = sorted(collections.Counter(rest).items())
        by_status = "(" + (", ".join(f"{n}×{s}" for s, n in counts) or "none") + ")"
        moved = len(data["transitions"])
        print(
            f"{name:<44} GraphQL {graphql:2d}   REST {len(rest):4d} {by_status:<18}"
            f"   status changes {moved:2d}   budget {budget}{extra}"
        )

    def last_event(self, kind: str) -> str:
        """The message of the newest event of ``kind`` in the project's event log."""
        (log,) = (self.tmp / "home").glob("*-bench/events.jsonl")
        found = [json.loads(line) for line in log.read_text().splitlines()]
        return str([e for e in found if e["type"] == kind][-1]["message"])

    def records(self) -> dict[str, tuple[str, str, str]]:
        """Each session's (status, PR number, PR head) as recorded."""
        from ao.store import kvfile

        found = {}
        for path in sorted((self.tmp / "home").glob("*-bench/sessions/*")):
            data = kvfile.loads(path.read_text(encoding="utf-8"))
            found[path.name] = (data.get("status", ""), data.get("pr_number", ""),
                                data.get("pr_head", ""))  # fmt: skip
        return found


def setup(tmp: Path, fake: FakeGitHub) -> Bench:
    """A project with ``SESSIONS`` session records, each branch with an open, green PR."""
    bench = Bench(tmp, fake)
    repo = tmp / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "init"], cwd=repo, check=True,
                   env=bench.env)  # fmt: skip
    (tmp / "agent-orchestrator.yaml").write_text(json.dumps({
        "defaults": {"agent": "shell"},
        "plugins": {"github": {"maxWait": 1}},  # longer waits become a persisted pause
        "projects": {"bench": {"path": str(repo), "sessionPrefix": "g", "repo": REPO}},
    }))  # fmt: skip
    fake.repo(REPO)
    for i in range(SESSIONS):
        pull = fake.add_pr(REPO, f"feat/issue-{i}-bench", title=f"Issue {i}")
        fake.add_check(REPO, pull.head_sha, "unit", "success")
    saved = dict(os.environ)
    os.environ.update(bench.env)
    try:
        from ao.session.context import Context
        from ao.store.record import Status

        project = Context.load(cwd=tmp).project("bench")
        for i in range(SESSIONS):
            project.store.reserve(
                "g", project="bench", agent="shell", runtime="tmux", workspace="worktree",
                status=Status.WORKING, branch=f"feat/issue-{i}-bench",
            )  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return bench


def measure(bench: Bench) -> None:
    """Cold tick, unchanged tick, one change, then a secondary limit and the recovery."""
    fake = bench.fake
    n = SESSIONS
    graphql_budget = f"⌈{n}/25⌉ = {-(-n // 25)} GraphQL"
    first = bench.tick()
    bench.line(f"GitHub tick: first ({n} open PRs, cold cache)", first, graphql_budget)
    assert len(first["transitions"]) == n, first

    same = bench.tick()
    bench.line("GitHub tick: nothing changed", same, "0 GraphQL, only 304s")
    assert not fake.graphql_requests and {r.status for r in fake.requests} == {304}

    pulls = list(fake.repos[REPO].pulls.values())
    sha = fake.push(REPO, pulls[0])  # a push, CI green on it, and an approval
    fake.add_check(REPO, sha, "unit", "success")
    fake.add_review(pulls[0], "reviewer", "APPROVED")
    changed = bench.tick()
    bench.line("GitHub tick: one PR pushed and approved", changed, graphql_budget)
    assert [tr["to"] for tr in changed["transitions"]] == ["mergeable"], changed

    # a 403 secondary limit: a change is pending while GitHub refuses
    before = bench.records()
    fake.add_review(pulls[1], "reviewer", "APPROVED")
    fake.secondary_limit(retry_after=RETRY_AFTER)
    refused = bench.tick()
    limited = time.monotonic()
    bench.line(f"GitHub tick: 403 secondary limit ({RETRY_AFTER}s)", refused, "back off")
    assert bench.records() == before and not refused["transitions"]
    assert "secondary rate limit" in bench.last_event("scm.error")
    paused = bench.tick()
    bench.line("GitHub tick: during the pause", paused, "0 requests")
    assert not fake.requests and bench.records() == before
    time.sleep(max(0.0, limited + RETRY_AFTER + 0.2 - time.monotonic()))
    after = bench.tick()
    after_records = bench.records()
    approved = str(pulls[1].number)  # the one record that must change
    lost = [s for s, rec in before.items() if after_records[s] != rec and rec[1] != approved]
    bench.line("GitHub tick: after the pause", after, graphql_budget, f"   state lost {len(lost)}")
    assert [tr["to"] for tr in after["transitions"]] == ["mergeable"] and not lost, after


def main() -> None:
    """Start the fake, run the ticks, print one line each; skip when the schema is missing."""
    from tests import graphql_schema

    reason = graphql_schema.available()
    if reason:
        print(f"{'GitHub requests per tick':<44} skipped: {reason}")
        return
    from tests.fakes.fakegithub import FakeGitHub

    graphql_schema.load()
    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-github-"))
    fake = FakeGitHub().start()
    try:
        measure(setup(tmp, fake))
        assert not fake.schema_errors, fake.schema_errors
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
