"""``GitHubScm`` over real HTTP against the fake GitHub (every GraphQL query schema-checked)."""
# ruff: noqa: F811  (the fixtures imported from tests.github_kit are used as arguments)

from __future__ import annotations

import typing as t

import pytest
from ao_plugins.github import GitHubScm, RateLimitError
from ao_plugins.github.client import api_urls
from ao_plugins.github.logs import trim_log
from ao_plugins.github.queries import BATCH, batch_query

from ao.sdk.errors import AoError, AuthError, ConflictError
from tests import graphql_schema
from tests.fakes.fakegithub import FakeGitHub
from tests.github_kit import Clock, clock, fake  # noqa: F401  (fixtures)

REPO = "acme/app"


def scm(clock: Clock, **options: t.Any) -> GitHubScm:
    """A fresh plugin instance: nothing in memory, only what is on disk (like a new process)."""
    return GitHubScm(options, clock=clock, sleep=clock.sleep)


def seed(fake: FakeGitHub, n: int) -> list[str]:
    branches = [f"feat/b-{i:02d}" for i in range(n)]
    for b in branches:
        pr = fake.add_pr(REPO, b)
        fake.add_check(REPO, pr.head_sha, "tests")
    return branches


# ----------------------------------------------------------------------------- queries


@pytest.mark.parametrize("size", [1, 2, BATCH - 1, BATCH])
def test_every_batch_shape_fits_githubs_schema(size: int) -> None:
    if reason := graphql_schema.available():
        pytest.fail(reason)
    assert graphql_schema.validate(batch_query(size)) == []


def test_enterprise_and_env_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AO_GITHUB_API_URL", raising=False)
    assert api_urls({}) == ("https://api.github.com", "https://api.github.com/graphql")
    assert api_urls({"apiUrl": "https://ghe.corp/api/v3/"}) == (
        "https://ghe.corp/api/v3",
        "https://ghe.corp/api/graphql",
    )
    monkeypatch.setenv("AO_GITHUB_API_URL", "http://127.0.0.1:9")
    assert api_urls({})[1] == "http://127.0.0.1:9/graphql"


# ----------------------------------------------------------------------------- batching + ETags


def test_60_branches_take_3_graphql_requests(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 59)
    states = scm(clock).pr_states(REPO, [*branches, "feat/no-pr"])  # 60 branches
    assert sorted(states) == branches  # a branch without a PR has no entry
    assert all(s.state == "open" and s.ci == "passing" for s in states.values())
    queries = fake.graphql_requests
    assert len(queries) == 3
    assert [q.graphql.count("pullRequests(headRefName:") for q in queries if q.graphql] == [
        25,
        25,
        10,
    ]


def test_unchanged_second_pass_makes_zero_queries_only_304s(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 60)
    first = scm(clock).pr_states(REPO, branches)
    first_pass = list(fake.requests)
    fake.requests.clear()
    clock.now += 30
    second = scm(clock).pr_states(REPO, branches)  # a new instance: `ao watch --once` again
    assert second == first
    assert fake.graphql_requests == []
    assert fake.requests, "the probes must still ask GitHub"
    assert all(r.method == "GET" and r.conditional and r.status == 304 for r in fake.requests)
    # 1 pull list + 2 per open PR head (check runs, status) + 1 base branch
    assert len(fake.requests) == 1 + 2 * 60 + 1
    assert len([r for r in first_pass if r.graphql]) == 3
    # 304s cost no rate limit on GitHub (nor on the fake)
    assert fake.limits["core"][1] == 5000 - len([r for r in first_pass if not r.graphql])


def test_changes_are_seen_through_the_probes(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 3)
    plugin = scm(clock)
    plugin.pr_states(REPO, branches)
    # CI finishing on an existing commit moves only that commit's check-runs probe
    pr = fake.repos[REPO].pulls[2]
    fake.add_check(REPO, pr.head_sha, "lint", "failure")
    fake.requests.clear()
    states = plugin.pr_states(REPO, branches)
    assert states["feat/b-01"].ci == "failing"
    assert len(fake.graphql_requests) == 1
    # a push moves the pull list
    new_sha = fake.push(REPO, pr)
    fake.requests.clear()
    states = plugin.pr_states(REPO, branches)
    assert states["feat/b-01"].head_sha == new_sha and states["feat/b-01"].ci == "none"
    assert len(fake.graphql_requests) == 1


def test_a_new_branch_is_queried_alone(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 10)
    plugin = scm(clock)
    plugin.pr_states(REPO, branches)
    fake.requests.clear()
    states = plugin.pr_states(REPO, [*branches, "feat/new"])
    assert len(states) == 10
    [query] = fake.graphql_requests
    assert query.graphql and query.graphql.count("pullRequests(headRefName:") == 1


def test_snapshot_expires_and_unknown_mergeability_is_asked_again(
    fake: FakeGitHub, clock: Clock
) -> None:
    seed(fake, 1)
    plugin = scm(clock, maxAge=300)
    plugin.pr_states(REPO, ["feat/b-00"])
    clock.now += 301
    plugin.pr_states(REPO, ["feat/b-00"])
    assert len(fake.graphql_requests) == 2
    fake.repos[REPO].pulls[1].mergeable = "UNKNOWN"
    fake.touch(fake.repos[REPO].pulls[1])
    assert plugin.pr_states(REPO, ["feat/b-00"])["feat/b-00"].mergeable is None
    plugin.pr_states(REPO, ["feat/b-00"])  # GitHub had not decided: ask again
    assert len(fake.graphql_requests) == 4


def test_a_deleted_base_branch_does_not_force_queries_forever(
    fake: FakeGitHub, clock: Clock
) -> None:
    seed(fake, 1)
    plugin = scm(clock)
    plugin.pr_states(REPO, ["feat/b-00"])
    del fake.repos[REPO].branches["main"]
    plugin.pr_states(REPO, ["feat/b-00"])  # the base probe changed (now 404): query once
    assert len(fake.graphql_requests) == 2
    fake.requests.clear()
    assert plugin.pr_states(REPO, ["feat/b-00"])
    assert fake.graphql_requests == []
    assert sorted(r.status for r in fake.requests) == [304, 304, 304, 404]


# ----------------------------------------------------------------------------- rate limits


def test_short_secondary_limit_is_waited_out(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 2)
    fake.secondary_limit("^/graphql$", retry_after=7)
    states = scm(clock).pr_states(REPO, branches)
    assert len(states) == 2
    assert clock.sleeps == [7.0]
    assert [r.status for r in fake.graphql_requests] == [403, 200]


def test_long_secondary_limit_pauses_without_losing_state(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 2)
    scm(clock).pr_states(REPO, branches)
    pr = fake.repos[REPO].pulls[1]
    new_sha = fake.push(REPO, pr)
    fake.secondary_limit("^/graphql$", retry_after=120, status=429)
    with pytest.raises(RateLimitError) as info:
        scm(clock).pr_states(REPO, branches)
    assert isinstance(info.value, AoError) and info.value.until == clock.now + 120
    assert clock.sleeps == []  # too long to wait in line: the tick goes on
    # the pause is on disk: a new process sends nothing until it ends
    fake.requests.clear()
    with pytest.raises(RateLimitError):
        scm(clock).pr_states(REPO, branches)
    assert fake.requests == []
    # after it, the change is still seen: the failed pass did not record the new ETags
    clock.now += 121
    states = scm(clock).pr_states(REPO, branches)
    assert states["feat/b-00"].head_sha == new_sha
    assert len(fake.graphql_requests) == 1


def test_reserve_stops_polling_queries_until_the_reset(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 2)
    fake.limits["graphql"][1] = 600  # of 5000: below the 20% reserve after one query
    fake.reset_at = int(clock.now + 900)
    plugin = scm(clock)
    plugin.pr_states(REPO, branches)
    fake.push(REPO, fake.repos[REPO].pulls[1])
    with pytest.raises(RateLimitError, match="reserve"):
        plugin.pr_states(REPO, branches)
    assert len(fake.graphql_requests) == 1  # the refused query was never sent
    clock.now += 901
    fake.limits["graphql"][1] = 5000
    assert plugin.pr_states(REPO, branches)
    assert len(fake.graphql_requests) == 2


def test_bad_gateway_is_retried(fake: FakeGitHub, clock: Clock) -> None:
    branches = seed(fake, 1)
    fake.fail("POST", "^/graphql$", 502, times=2)
    assert scm(clock).pr_states(REPO, branches)
    assert [r.status for r in fake.graphql_requests] == [502, 502, 200]
    assert clock.sleeps == [1.0, 2.0]
    fake.fail("POST", "^/graphql$", 502, times=3)
    fake.push(REPO, fake.repos[REPO].pulls[1])
    with pytest.raises(AoError, match="502"):
        scm(clock).pr_states(REPO, branches)


# ----------------------------------------------------------------------------- CI detail

ACTIONS_LOG = """\
2025-01-01T10:00:00.0000000Z ##[group]Run pytest -q
2025-01-01T10:00:01.0000000Z \x1b[32mcollected 3 items\x1b[0m
2025-01-01T10:00:02.0000000Z tests/test_calc.py .F.
2025-01-01T10:00:03.0000000Z E   assert 3 == 4
2025-01-01T10:00:04.0000000Z FAILED tests/test_calc.py::test_add - assert 3 == 4
2025-01-01T10:00:05.0000000Z 1 failed, 2 passed in 0.12s
2025-01-01T10:00:06.0000000Z ##[error]Process completed with exit code 1.
2025-01-01T10:00:07.0000000Z Post job cleanup.
2025-01-01T10:00:08.0000000Z Cleaning up orphan processes
"""


def test_failing_checks_carry_trimmed_logs(fake: FakeGitHub, clock: Clock) -> None:
    pr = fake.add_pr(REPO, "feat/ci")
    fake.add_check(REPO, pr.head_sha, "unit", "failure", log=ACTIONS_LOG)
    fake.add_check(REPO, pr.head_sha, "lint", "success")
    fake.add_check(REPO, pr.head_sha, "e2e", None, status="in_progress")
    fake.add_check(REPO, pr.head_sha, "sonar", "failure", app="sonarcloud",
                   output={"title": "Quality gate failed", "summary": "2 new bugs"})  # fmt: skip
    fake.add_status(REPO, pr.head_sha, "ci/jenkins", "error", "Build #12 broke")
    state = scm(clock).pr_states(REPO, ["feat/ci"])["feat/ci"]
    checks = {c.name: c for c in state.checks}
    assert {n: c.state for n, c in checks.items()} == {
        "unit": "failing", "lint": "passing", "e2e": "pending", "sonar": "failing",
        "ci/jenkins": "failing",
    }  # fmt: skip
    assert state.ci == "failing"
    unit = checks["unit"].log_excerpt
    assert "FAILED tests/test_calc.py::test_add - assert 3 == 4" in unit
    assert "1 failed, 2 passed" in unit and "exit code 1" in unit
    assert "\x1b" not in unit and "2025-01-01T" not in unit
    assert "Cleaning up orphan" not in unit and "##[group]" not in unit
    assert checks["unit"].url.endswith(f"/job/{fake.repos[REPO].checks[pr.head_sha][0].id}")
    assert "Quality gate failed" in checks["sonar"].log_excerpt
    assert checks["ci/jenkins"].log_excerpt == "Build #12 broke"
    assert checks["lint"].log_excerpt == ""
    # a finished job's log is fetched once, even when the PR changes later
    fake.touch(pr)
    scm(clock).pr_states(REPO, ["feat/ci"])
    assert fake.count("GET", "/_blobs/jobs/") == 1


def test_trim_log_keeps_failures_and_the_end() -> None:
    lines = [f"2025-01-01T00:00:00.1Z line {i}" for i in range(5000)]
    lines[100] = "2025-01-01T00:00:00.1Z FAIL src/app.test.ts > adds"
    lines[200] = "--- FAIL: TestParse (0.00s)"
    text = trim_log(lines, tail=10)
    assert text.startswith("Failures:\nFAIL src/app.test.ts > adds\n--- FAIL: TestParse")
    assert text.endswith("line 4999") and "line 4989" not in text
    assert trim_log([]) == ""
    assert len(trim_log([f"Error: {i} " + "x" * 500 for i in range(100)], max_chars=2000)) <= 2000


def test_trim_log_strips_escapes_and_stops_at_the_exit_line() -> None:
    text = trim_log(["\x1b]0;title\x07ok", "\x1b[31mError: boom\x1b[0m",
                     "##[error]Process completed with exit code 2.", "cleanup"])  # fmt: skip
    assert text == "Last lines:\nok\nError: boom\n##[error]Process completed with exit code 2." or (
        text == "ok\nError: boom\n##[error]Process completed with exit code 2."
    )


# ----------------------------------------------------------------------------- reviews


def test_review_comments_with_ids_deduplicated_and_bots_optional(
    fake: FakeGitHub, clock: Clock
) -> None:
    pr = fake.add_pr(REPO, "feat/review")
    thread = fake.add_thread(
        pr, "src/a.py", 12, ("alice", "Rename this"), ("bob", "+1, and \x1b[2Jtest it")
    )
    fake.add_thread(pr, "src/b.py", 3, ("alice", "done already"), resolved=True)
    fake.add_thread(pr, "src/c.py", 7, ("linter[bot]", "style nit"), bot=True)
    dup = fake.add_thread(pr, "src/a.py", 12)
    dup.comments.append(thread.comments[0])  # the same comment reached twice
    fake.add_review(pr, "alice", "CHANGES_REQUESTED", "Please add tests")
    fake.add_review(pr, "carol", "COMMENTED", "")
    state = scm(clock).pr_states(REPO, ["feat/review"])["feat/review"]
    assert state.review_decision == "changes_requested"
    got = [(c.author, c.body, c.path, c.line) for c in state.comments]
    assert got == [
        ("alice", "Rename this", "src/a.py", 12),
        ("bob", "+1, and \x1b[2Jtest it", "src/a.py", 12),  # raw: reactions fence it
        ("alice", "Please add tests", "", None),
    ]
    assert len({c.id for c in state.comments}) == 3
    assert state.comments[0].id == thread.comments[0].id
    fake.touch(pr)
    with_bots = scm(clock, reviewBots=["linter"]).pr_states(REPO, ["feat/review"])["feat/review"]
    assert ("linter[bot]", "style nit") in [(c.author, c.body) for c in with_bots.comments]


def test_fork_prs_with_the_same_branch_name_are_not_ours(fake: FakeGitHub, clock: Clock) -> None:
    fake.add_pr(REPO, "feat/x", number=5)
    fake.add_pr(REPO, "feat/x", number=6, head_repo="mallory/app")
    assert scm(clock).pr_states(REPO, ["feat/x"])["feat/x"].number == 5


# ----------------------------------------------------------------------------- merge


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_merge_with_each_strategy_deletes_the_branch(
    fake: FakeGitHub, clock: Clock, strategy: str
) -> None:
    fake.add_pr(REPO, "feat/done")
    plugin = scm(clock)
    pr = plugin.pr_states(REPO, ["feat/done"])["feat/done"]
    plugin.merge(REPO, pr, strategy)
    pull = fake.repos[REPO].pulls[pr.number]
    assert pull.merged and pull.merge_method == strategy
    assert "feat/done" not in fake.repos[REPO].branches
    assert fake.count("DELETE", f"/repos/{REPO}/git/refs/heads/feat/done", 204) == 1
    assert plugin.pr_states(REPO, ["feat/done"])["feat/done"].state == "merged"


def test_merge_refusals_are_ao_errors(fake: FakeGitHub, clock: Clock) -> None:
    fake.add_pr(REPO, "feat/a")
    fake.add_pr(REPO, "feat/b", mergeable="CONFLICTING")
    plugin = scm(clock, deleteBranch=False)
    states = plugin.pr_states(REPO, ["feat/a", "feat/b"])
    with pytest.raises(ConflictError, match="not mergeable"):
        plugin.merge(REPO, states["feat/b"], "squash")
    fake.push(REPO, fake.repos[REPO].pulls[1])  # someone pushed after ao looked
    with pytest.raises(ConflictError, match="409"):
        plugin.merge(REPO, states["feat/a"], "squash")
    with pytest.raises(AoError, match="unknown merge strategy"):
        plugin.merge(REPO, states["feat/a"], "octopus")
    fresh = plugin.pr_states(REPO, ["feat/a"])["feat/a"]
    plugin.merge(REPO, fresh, "merge")
    assert "feat/a" in fake.repos[REPO].branches  # deleteBranch: false
    assert fake.count("DELETE") == 0


def test_token_from_gh_and_missing_token(
    fake: FakeGitHub, clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: t.Any
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    gh = tmp_path / "bin" / "gh"
    gh.parent.mkdir()
    gh.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] && echo {fake.token}\n")
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gh.parent}:/usr/bin:/bin")
    fake.add_pr(REPO, "feat/t")
    assert scm(clock).pr_states(REPO, ["feat/t"])
    assert all(r.auth == f"Bearer {fake.token}" for r in fake.requests)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(AoError, match="no GitHub token"):
        scm(clock).pr_states(REPO, ["feat/t"])


def test_a_rejected_token_is_an_auth_error(
    fake: FakeGitHub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """401 from GitHub: AuthError (exit 10) naming the token variables, never the token."""
    seed(fake, 1)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong_secret_value")
    with pytest.raises(AuthError) as info:
        scm(clock).pr_states(REPO, ["feat/b-00"])
    text = str(info.value)
    assert "401" in text and "GITHUB_TOKEN" in text and "ghp_wrong_secret_value" not in text
    assert info.value.exit_code == 10
