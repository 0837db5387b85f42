"""The event vocabulary: the pure derivation per transition, its docs, and one PR's whole
life through the real CLI and the fake GitHub, read back with ``ao events --json``."""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import httpx
import pytest
import yaml

from ao.lifecycle import vocabulary as vocab
from ao.lifecycle.actions import notify
from ao.lifecycle.reactions import Planned
from ao.lifecycle.vocabulary import Before, Ran, derive
from ao.sdk.contracts import Check, PrState
from ao.store.record import Status
from tests.conftest import RunAo
from tests.fakes.fakegithub import FakeGitHub
from tests.github_kit import fake  # noqa: F401  (fixture)
from tests.sessionkit import Project, wait_for
from tests.test_github_loop import AGENT, BRANCH7, FAILING_TEST, REPO, Loop

ROOT = Path(__file__).resolve().parent.parent


def pr(**kw: t.Any) -> PrState:
    base: dict[str, t.Any] = {
        "number": 7, "url": "https://forge.test/pr/7", "state": "open", "head_sha": "h1",
    }  # fmt: skip
    return PrState(**{**base, **kw})


SEEN = Before(Status.PR_OPEN, pr="https://forge.test/pr/7", pr_head="h1")
RED = (Check("unit", "failing"),)
GREEN = (Check("unit", "passing"),)


def types(before: Before, status: Status | None, now: PrState | None, *ran: Ran) -> list[str]:
    return [e.type for e in derive("d-1", before, status, now, ran)]


# ----------------------------------------------------------------------------- derivation


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (Status.WORKING, "session.working"),
        (Status.STUCK, "session.stuck"),
        (Status.NEEDS_INPUT, "session.needs_input"),
        (Status.KILLED, "session.killed"),
        (Status.ERRORED, "session.errored"),
    ],
)
def test_entering_a_session_status_is_its_event_once(status: Status, kind: str) -> None:
    (event,) = derive("d-1", Before(Status.READY), status, None)
    assert (event.type, event.data["from"], event.data["to"]) == (kind, "ready", status)
    assert event.priority == vocab.PRIORITIES[kind]
    assert types(Before(status), status, None) == []  # it persists: nothing more


def test_stuck_and_needs_input_are_urgent() -> None:
    assert vocab.PRIORITIES["session.stuck"] == vocab.PRIORITIES["session.needs_input"] == "urgent"
    assert vocab.PRIORITIES["session.errored"] == "urgent"


def test_spawned_is_the_first_sighting_only() -> None:
    first = Before(Status.WORKING, first_seen=True)
    assert types(first, Status.WORKING, None) == ["session.spawned"]
    assert types(Before(Status.WORKING), Status.WORKING, None) == []


def test_a_new_pr_is_created_and_a_push_is_updated_once() -> None:
    new = pr(checks=(Check("unit", "pending"),))
    before = Before(Status.WORKING)
    (event,) = derive("d-1", before, Status.PR_OPEN, new)
    assert event.type == "pr.created" and event.priority == "info"
    assert {k: event.data[k] for k in ("session", "pr", "number", "head_sha", "ci")} == {
        "session": "d-1", "pr": new.url, "number": 7, "head_sha": "h1", "ci": "pending",
    }  # fmt: skip
    assert types(SEEN, Status.PR_OPEN, new) == []  # seen last tick
    # `ao finalize --pr` recorded the URL, the watcher never saw the head: still new
    opened = Before(Status.READY, pr=new.url)
    assert types(opened, Status.PR_OPEN, new) == ["pr.created"]
    # another PR for the branch (the old one closed, a new one opened)
    assert types(Before(Status.READY, pr="https://forge.test/pr/6", pr_head="h0"),
                 Status.PR_OPEN, new) == ["pr.created"]  # fmt: skip
    pushed = pr(head_sha="h2", checks=(Check("unit", "pending"),))
    (event,) = derive("d-1", SEEN, Status.PR_OPEN, pushed)
    assert event.type == "pr.updated" and event.data["previous_head"] == "h1"
    assert event.data["head_sha"] == "h2"
    assert types(Before(Status.PR_OPEN, pr=new.url, pr_head="h2"), Status.PR_OPEN, pushed) == []


def test_merged_and_closed_follow_the_status() -> None:
    merged, closed = pr(state="merged"), pr(state="closed")
    assert types(Before(Status.MERGEABLE, pr=merged.url, pr_head="h1"),
                 Status.MERGED, merged) == ["pr.merged"]  # fmt: skip
    assert types(Before(Status.MERGED, pr=merged.url, pr_head="h1"), Status.MERGED, merged) == []
    assert types(Before(Status.EXITED, pr=closed.url, pr_head="h1"),
                 Status.DONE, closed) == ["pr.closed"]  # fmt: skip
    assert types(Before(Status.MERGED), Status.DONE, None) == []  # cleanup, not a close


def test_ci_failing_then_passing_once_each() -> None:
    (event,) = derive("d-1", SEEN, Status.CI_FAILED, pr(checks=RED))
    assert (event.type, event.priority, event.data["failing"]) == (
        "ci.failing",
        "warning",
        ["unit"],
    )
    assert event.data["ci"] == "failing"
    failed = Before(Status.CI_FAILED, pr=SEEN.pr, pr_head="h1")
    assert types(failed, Status.CI_FAILED, pr(checks=RED)) == []
    green = pr(checks=GREEN, review_decision="review_required")
    assert types(failed, Status.REVIEW_PENDING, green) == ["ci.passing", "review.pending"]
    assert types(Before(Status.REVIEW_PENDING, pr=SEEN.pr, pr_head="h1"),
                 Status.REVIEW_PENDING, green) == []  # fmt: skip
    # pending → passing is a transition too; a PR first seen green says so once
    assert types(SEEN, Status.REVIEW_PENDING, green) == ["ci.passing", "review.pending"]
    assert types(Before(Status.READY), Status.REVIEW_PENDING, green) == [
        "pr.created", "ci.passing", "review.pending",
    ]  # fmt: skip
    # no checks at all is not "passing"
    assert types(SEEN, Status.REVIEW_PENDING, pr(review_decision="review_required")) == [
        "review.pending"
    ]


def test_review_and_merge_readiness() -> None:
    pending = Before(Status.REVIEW_PENDING, pr=SEEN.pr, pr_head="h1")
    asked = pr(checks=GREEN, review_decision="changes_requested")
    (event,) = derive("d-1", pending, Status.CHANGES_REQUESTED, asked)
    assert (event.type, event.priority) == ("review.changes_requested", "warning")
    ready = pr(checks=GREEN, review_decision="approved", mergeable=True)
    assert types(pending, Status.MERGEABLE, ready) == ["review.approved", "merge.ready"]
    events = derive("d-1", pending, Status.MERGEABLE, ready)
    assert [e.priority for e in events] == ["action", "action"]
    # approved first (mergeability unknown), mergeable later: approved once, ready once
    waiting = pr(checks=GREEN, review_decision="approved", mergeable=None)
    assert types(pending, Status.APPROVED, waiting) == ["review.approved"]
    approved = Before(Status.APPROVED, pr=SEEN.pr, pr_head="h1")
    assert types(approved, Status.APPROVED, waiting) == []
    assert types(approved, Status.MERGEABLE, ready) == ["merge.ready"]
    merged = Before(Status.MERGEABLE, pr=SEEN.pr, pr_head="h1")
    assert types(merged, Status.MERGEABLE, ready) == []


def test_conflicts_once_per_head() -> None:
    torn = pr(review_decision="approved", mergeable=False, conflicts=True)
    assert types(SEEN, Status.APPROVED, torn) == ["review.approved", "merge.conflicts"]
    got = derive("d-1", Before(Status.APPROVED, pr=SEEN.pr, pr_head="h1"), Status.APPROVED, torn)
    assert [(e.type, e.priority) for e in got] == [("merge.conflicts", "warning")]
    assert got[0].data["mergeable"] is False and got[0].data["conflicts"] is True
    # the record holds this head's merge-conflicts signature: seen, not again
    known = Before(Status.APPROVED, pr=SEEN.pr, pr_head="h1", conflicts_seen=True)
    assert types(known, Status.APPROVED, torn) == []
    # mergeable False without conflicts (GitLab: "not mergeable yet" for any reason)
    assert types(SEEN, Status.PR_OPEN, pr(mergeable=False)) == []


def test_reactions_that_ran() -> None:
    red = Before(Status.CI_FAILED, pr=SEEN.pr, pr_head="h1")
    sent = Ran("ci-failed", "send", True, "queued: the agent is busy")
    (event,) = derive("d-1", red, Status.CI_FAILED, pr(checks=RED), [sent])
    assert (event.type, event.data["reaction"], event.data["detail"]) == (
        "ci.fix_sent", "ci-failed", "queued: the agent is busy",
    )  # fmt: skip
    assert types(red, Status.CI_FAILED, pr(checks=RED), Ran("ci-failed", "send", False)) == [
        "ci.fix_failed"
    ]
    assert types(red, Status.CI_FAILED, pr(checks=RED), Ran("ci-failed", "escalate", True)) == [
        "ci.fix_failed"
    ]
    asked = Before(Status.CHANGES_REQUESTED, pr=SEEN.pr, pr_head="h1")
    comments = pr(review_decision="changes_requested")
    assert types(asked, Status.CHANGES_REQUESTED, comments,
                 Ran("changes-requested", "send", True)) == ["review.comments_sent"]  # fmt: skip
    ready = Before(Status.MERGEABLE, pr=SEEN.pr, pr_head="h1")
    green = pr(checks=GREEN, review_decision="approved", mergeable=True)
    merged = derive(
        "d-1", ready, Status.MERGEABLE, green, [Ran("approved-and-green", "merge", True)]
    )
    assert [(e.type, e.priority) for e in merged] == [("merge.completed", "action")]
    assert types(ready, Status.MERGEABLE, green, Ran("approved-and-green", "merge", False)) == []
    assert types(ready, Status.MERGEABLE, green, Ran("approved-and-green", "notify", True)) == []


def test_every_vocabulary_type_is_documented_with_its_priority_set() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [k for k in vocab.TYPES if f"| `{k}` |" not in doc]
    assert not missing, f"docs/cli.md does not document {missing}"
    assert set(vocab.PRIORITIES.values()) <= {"urgent", "action", "warning", "info"}


def test_notifications_carry_their_vocabulary_type(tmp_path: Path) -> None:
    assert vocab.of_notification("ci-failed", "send") == "ci.failing"
    assert vocab.of_notification("ci-failed", "escalate") == "ci.fix_failed"
    assert vocab.of_notification("approved-and-green", "notify") == "merge.ready"
    assert vocab.of_notification("all-complete", "notify") is None

    class Paths:
        root, locks, events, project_id = tmp_path, tmp_path / "locks", tmp_path / "e", "p"

    class Proj:
        id, paths = "p", Paths()

    (tmp_path / "locks").mkdir()
    planned = Planned("agent-stuck", "escalate", "urgent", "help", "why", "sig")
    notify(Proj(), "d-1", planned)  # type: ignore[arg-type]
    (queued,) = (tmp_path / "notify-outbox").glob("*.json")
    data = json.loads(queued.read_text())["note"]["data"]
    assert data == {"reaction": "agent-stuck", "kind": "escalate", "event": "session.stuck"}


# ----------------------------------------------------------------------------- end to end

EXPECTED = [
    "session.spawned",  # the first pass sees the spawned agent at work
    "pr.created",  # the PR is opened outside ao, CI runs
    "ci.failing",  # CI fails…
    "ci.fix_sent",  # …and the failure goes to the agent (queued: it is busy)
    "pr.updated",  # the agent pushes its fix
    "ci.passing",  # CI passes on the new head…
    "review.approved",  # …a reviewer approves…
    "merge.ready",  # …so it is ready…
    "merge.completed",  # …and ao merges it
    "pr.merged",  # the next pass sees it merged
]


@pytest.mark.tmux
def test_one_pr_through_its_whole_life(
    fake: FakeGitHub,  # noqa: F811
    git_repo: Path,
    server: t.Any,
    ao: RunAo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    cwd, origin = git_repo.parent, git_repo.parent / "origin.git"
    fake.repo(REPO, git_dir=origin)
    fake.add_issue(REPO, 7, "Add login page", "The login form must reject empty passwords.")
    (cwd / "agent.py").write_text(AGENT)
    loop = Loop(ao, cwd, fake)
    command = [sys.executable, str(cwd / "agent.py"), str(loop.inbox), str(loop.actions),
               str(loop.release)]  # fmt: skip
    config = {
        "defaults": {"agent": "shell"},
        "agents": {"shell": {"command": command, "readyPattern": r"agent>\s*$"}},
        "projects": {"demo": {"path": str(git_repo), "sessionPrefix": "d", "repo": REPO}},
        "reactions": {"approved-and-green": {
            "auto": True, "action": "merge", "strategy": "squash", "deleteAfter": "0s",
        }},
    }  # fmt: skip
    (cwd / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))

    def vocabulary() -> list[str]:
        r = ao("events", "--json", "-n", "1000", cwd=cwd)
        assert r.returncode == 0, r.stderr
        found = [json.loads(line) for line in r.stdout.splitlines()]
        return [e["type"] for e in found if e["type"] in vocab.PRIORITIES]

    (spawned,) = loop.json("spawn", "7")
    s7 = spawned["session"]
    head1 = t.cast(dict[str, t.Any], wait_for(lambda: loop.did(s7, "pushed"), what="push"))["sha"]
    loop.tick()
    loop.tick()  # a state that lasts is written once
    assert vocabulary() == EXPECTED[:1]

    resp = httpx.post(
        f"{fake.url}/repos/{REPO}/pulls",
        headers={"Authorization": f"Bearer {fake.token}"},
        json={"title": "Add login page", "head": BRANCH7, "base": "main", "body": "Closes #7"},
    )
    assert resp.status_code == 201, resp.text
    pr7 = fake.repos[REPO].pulls[resp.json()["number"]]
    run = fake.add_check(REPO, head1, "unit", None, status="in_progress")
    assert loop.tick()[s7][0] == ["pr_open"]
    assert vocabulary() == EXPECTED[:2]

    fake.repos[REPO].logs[run.id] = f"FAILED {FAILING_TEST} - AssertionError\n"
    run.status, run.conclusion = "completed", "failure"
    assert loop.tick()[s7] == (["ci_failed"], [("ci-failed", "send", True)])
    assert vocabulary() == EXPECTED[:4]
    loop.release.touch()
    wait_for(lambda: loop.did(s7, "turn ended"), what="the agent's long turn to end")
    assert loop.tick()[s7] == ([], [("outbox", "send", True)])  # still red: nothing new
    assert vocabulary() == EXPECTED[:4]

    head2 = t.cast(dict[str, t.Any], wait_for(lambda: loop.did(s7, "fixed"), what="fix"))["sha"]
    fake.add_check(REPO, head2, "unit", "success")
    fake.add_review(pr7, "reviewer", "APPROVED")
    assert loop.tick()[s7] == (["mergeable"], [("approved-and-green", "merge", True)])
    assert loop.tick()[s7][0] == ["merged"]
    assert loop.tick()[s7][0] == ["done"]  # cleaned up: no vocabulary of its own
    assert vocabulary() == EXPECTED

    r = ao("events", "--json", "-n", "1000", cwd=cwd)
    found = [json.loads(line) for line in r.stdout.splitlines()]
    by_type = {e["type"]: e for e in found if e["type"] in vocab.PRIORITIES}
    assert by_type["pr.updated"]["data"]["previous_head"] == head1
    assert by_type["pr.updated"]["data"]["head_sha"] == head2
    assert by_type["ci.failing"]["data"]["failing"] == ["unit"]
    assert by_type["ci.failing"]["priority"] == "warning"
    assert by_type["merge.completed"]["priority"] == "action"
    assert by_type["merge.completed"]["data"]["number"] == pr7.number
    assert by_type["pr.created"]["data"]["pr"].endswith(f"/pull/{pr7.number}")
    assert {e["session"] for e in by_type.values()} == {s7}


@pytest.mark.tmux
def test_ao_stop_writes_session_killed(proj: Project) -> None:
    """A session stopped by hand is `session.killed` (beside `session.stopped`)."""
    assert proj.ao("new", "true").returncode == 0
    assert proj.ao("stop", "d-1").returncode == 0
    rows = [json.loads(line) for line in proj.ao("events", "--json").stdout.splitlines()]
    killed = [e for e in rows if e["type"] == "session.killed"]
    assert len(killed) == 1 and killed[0]["session"] == "d-1"
    assert killed[0]["priority"] == vocab.PRIORITIES["session.killed"] == "info"
