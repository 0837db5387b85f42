"""``GitLabScm`` over real HTTP against the fake GitLab (unknown parameters are refused)."""
# ruff: noqa: F811  (the fixtures imported from tests.gitlab_kit are used as arguments)

from __future__ import annotations

import typing as t

import pytest
from ao_plugins.gitlab import AuthError, GitLabScm, RateLimitError
from ao_plugins.gitlab.client import base_url, project_id
from ao_plugins.gitlab.logs import trim_trace

from ao.sdk.contracts import Check, PrState, ReviewComment
from ao.sdk.errors import AoError, ConflictError, UsageError
from tests.fakes.fakegitlab import MR, FakeGitLab
from tests.gitlab_kit import TRACE, Clock, clock, gl  # noqa: F401  (fixtures)

REPO = "group/sub/app"
MRS = "/projects/group/sub/app/merge_requests"


def scm(clock: Clock, **options: t.Any) -> GitLabScm:
    """A fresh plugin instance: nothing in memory, only what is on disk (like a new process)."""
    return GitLabScm(options, clock=clock, sleep=clock.sleep)


def seed(gl: FakeGitLab, n: int, status: str = "success") -> list[MR]:
    mrs = [gl.add_mr(REPO, f"feat/b-{i:02d}") for i in range(n)]
    for mr in mrs:
        gl.add_pipeline(REPO, mr, status)
    return mrs


def calls(gl: FakeGitLab) -> list[str]:
    return sorted(f"{r.method} {r.path} {r.status}" for r in gl.requests)


# ----------------------------------------------------------------------------- every field


def test_every_pr_state_field_from_real_http(gl: FakeGitLab, clock: Clock) -> None:
    ready = gl.add_mr(REPO, "feat/ready", labels=["backend", "p1"], approvals_required=1)
    ready_pipe = gl.add_pipeline(REPO, ready, "success")
    gl.approve(ready, "carol")
    draft = gl.add_mr(REPO, "feat/draft", draft=True, detailed_merge_status="draft_status")
    gl.add_pipeline(REPO, draft, "running")
    states = scm(clock).pr_states(REPO, ["feat/ready", "feat/draft", "feat/none"])
    assert sorted(states) == ["feat/draft", "feat/ready"]  # no MR, no entry
    assert states["feat/ready"] == PrState(
        number=ready.iid, url=f"https://gitlab.test/{REPO}/-/merge_requests/{ready.iid}",
        state="open", head_sha=ready.sha, draft=False,
        checks=(Check("pipeline", "passing", f"https://gitlab.test/{REPO}/-/pipelines/{ready_pipe.id}"),),
        review_decision="approved", comments=(), mergeable=True, conflicts=False,
        labels=("backend", "p1"),
    )  # fmt: skip
    d = states["feat/draft"]
    assert (d.draft, d.ci, d.mergeable, d.review_decision) == (True, "pending", False, "none")
    assert gl.bad_requests == []


def test_state_mapping_merged_closed_locked(gl: FakeGitLab, clock: Clock) -> None:
    gl.add_mr(REPO, "feat/m", state="merged")
    gl.add_mr(REPO, "feat/c", state="closed")
    gl.add_mr(REPO, "feat/l", state="locked")
    states = scm(clock).pr_states(REPO, ["feat/m", "feat/c", "feat/l"])
    assert {b: s.state for b, s in states.items()} == {
        "feat/m": "merged", "feat/c": "closed", "feat/l": "open"}  # fmt: skip
    assert states["feat/l"].mergeable is None  # a merge in progress: not for ao to decide
    assert states["feat/m"].mergeable is None and states["feat/m"].checks == ()
    # closed and merged MRs need no detail calls
    assert gl.count("GET", r"/merge_requests/[12](/|$)") == 0


def test_newest_mr_per_branch_and_forks_are_not_ours(gl: FakeGitLab, clock: Clock) -> None:
    gl.add_mr(REPO, "feat/x", state="closed")
    newer = gl.add_mr(REPO, "feat/x")
    gl.add_mr(REPO, "feat/y", source_project_id=999)  # a fork's branch of the same name
    gl.touch(gl.projects[REPO].mrs[1])  # the old one updated last: still not the newest
    states = scm(clock).pr_states(REPO, ["feat/x", "feat/y"])
    assert states["feat/x"].number == newer.iid and "feat/y" not in states


# ----------------------------------------------------------------------------- CI


def test_failed_pipeline_carries_job_log_excerpts(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/ci")
    pipe = gl.add_pipeline(REPO, mr, "failed", [("unit", "failed", TRACE), ("lint", "success"),
                                                ("flaky", "failed", "boom")])  # fmt: skip
    flaky = next(j for j in gl.projects[REPO].jobs.values() if j.name == "flaky")
    flaky.allow_failure = True  # its failure does not fail the pipeline
    state = scm(clock).pr_states(REPO, ["feat/ci"])["feat/ci"]
    assert state.ci == "failing"
    [unit] = state.checks
    job = next(j for j in gl.projects[REPO].jobs.values() if j.name == "unit")
    assert (unit.name, unit.state, unit.url) == ("unit", "failing",
                                                 f"https://gitlab.test/{REPO}/-/jobs/{job.id}")  # fmt: skip
    text = unit.log_excerpt
    assert "FAILED tests/test_calc.py::test_add - assert 3 == 4" in text
    assert "1 failed, 2 passed" in text and text.endswith("ERROR: Job failed: exit code 1")
    assert "$ pytest -q" in text
    for noise in ("\x1b", "section_", "Cleaning up", "Fetching changes", "gitlab-runner",
                  "Preparing the", "python:3.12"):  # fmt: skip
        assert noise not in text
    [jobs] = gl.matching("GET", rf"/pipelines/{pipe.id}/jobs$")
    assert jobs.query["scope[]"] == ["failed"]
    # a finished job's trace is downloaded once, even when the MR changes later
    gl.touch(mr)
    again = scm(clock).pr_states(REPO, ["feat/ci"])["feat/ci"]
    assert again.checks == state.checks
    assert gl.count("GET", r"/trace$") == 1


def test_pipeline_progress_is_seen_from_the_pipeline_list(gl: FakeGitLab, clock: Clock) -> None:
    mrs = [gl.add_mr(REPO, f"feat/p{i}") for i in range(3)]
    pipes = [gl.add_pipeline(REPO, mr, "running", [("unit", "running", "FAIL: x")]) for mr in mrs]
    branches = [mr.source_branch for mr in mrs]
    assert {s.ci for s in scm(clock).pr_states(REPO, branches).values()} == {"pending"}
    gl.requests.clear()
    gl.set_status(pipes[1], "failed")
    gl.projects[REPO].jobs[pipes[1].id + 1].status = "failed"
    states = scm(clock).pr_states(REPO, branches)
    assert [states[b].ci for b in branches] == ["pending", "failing", "pending"]
    assert "FAIL: x" in states["feat/p1"].checks[0].log_excerpt
    # the MR itself did not change: no approvals/discussions/MR calls, just CI detail
    assert calls(gl) == sorted([
        f"GET {MRS} 304", "GET /projects/group/sub/app/pipelines 200",
        f"GET /projects/group/sub/app/pipelines/{pipes[1].id}/jobs 200",
        f"GET /projects/group/sub/app/jobs/{pipes[1].id + 1}/trace 200",
    ])  # fmt: skip
    gl.requests.clear()
    gl.set_status(pipes[0], "success")
    assert scm(clock).pr_states(REPO, branches)["feat/p0"].ci == "passing"
    assert gl.count("GET", r"/merge_requests/\d+") == 0 and gl.count("GET", "/jobs") == 0


def test_a_push_uses_the_new_heads_pipeline(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/push")
    gl.add_pipeline(REPO, mr, "failed", [("unit", "failed", "FAILED a")])
    plugin = scm(clock)
    assert plugin.pr_states(REPO, ["feat/push"])["feat/push"].ci == "failing"
    sha = gl.push(REPO, mr)  # no pipeline yet for the new head
    state = plugin.pr_states(REPO, ["feat/push"])["feat/push"]
    assert (state.head_sha, state.ci) == (sha, "none")
    gl.add_pipeline(REPO, mr, "pending")
    gl.requests.clear()
    assert plugin.pr_states(REPO, ["feat/push"])["feat/push"].ci == "pending"
    assert gl.count("GET", r"/merge_requests/\d+$") == 0  # the list said which pipeline


def test_a_single_branch_call_does_not_hide_changes_from_the_next_pass(
    gl: FakeGitLab, clock: Clock
) -> None:
    """`ao merge` asks for one branch between two ticks: the others must not miss CI news."""
    mrs = [gl.add_mr(REPO, f"feat/s{i}") for i in range(3)]
    pipes = [gl.add_pipeline(REPO, mr, "running") for mr in mrs]
    branches = [mr.source_branch for mr in mrs]
    scm(clock).pr_states(REPO, branches)
    gl.set_status(pipes[1], "success")
    other = gl.add_mr(REPO, "feat/busy", state="merged")
    for _ in range(100):  # a busy project: pipes[1] is off the first page from now on
        gl.add_pipeline(REPO, other, "success")
    assert scm(clock).pr_states(REPO, ["feat/s0"])["feat/s0"].ci == "pending"
    states = scm(clock).pr_states(REPO, branches)
    assert [states[b].ci for b in branches] == ["pending", "passing", "pending"]


def test_max_logs_limits_downloads_per_pass(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/logs")
    gl.add_pipeline(REPO, mr, "failed", [(f"job{i}", "failed", f"FAILED t{i}") for i in range(3)])
    first = scm(clock, maxLogs=2).pr_states(REPO, ["feat/logs"])["feat/logs"]
    assert [bool(c.log_excerpt) for c in first.checks] == [True, True, False]
    second = scm(clock, maxLogs=2).pr_states(REPO, ["feat/logs"])["feat/logs"]
    assert [c.log_excerpt for c in second.checks] == ["FAILED t0", "FAILED t1", "FAILED t2"]
    assert gl.count("GET", r"/trace$") == 3


def test_merged_results_pipelines_are_asked_of_gitlab(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/mrp")
    plugin = scm(clock)
    plugin.pr_states(REPO, ["feat/mrp"])
    gl.add_pipeline(REPO, mr, "failed", [("unit", "failed", "FAILED merged")], merged_results=True)
    state = plugin.pr_states(REPO, ["feat/mrp"])["feat/mrp"]
    assert state.ci == "failing" and "FAILED merged" in state.checks[0].log_excerpt
    assert gl.count("GET", rf"{MRS}/{mr.iid}$") == 1  # head_pipeline from the MR itself


# ----------------------------------------------------------------------------- reviews


def test_approvals_decide_review_required_and_approved(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/appr", approvals_required=2)
    plugin = scm(clock)
    assert plugin.pr_states(REPO, ["feat/appr"])["feat/appr"].review_decision == "review_required"
    gl.approve(mr, "carol")
    assert plugin.pr_states(REPO, ["feat/appr"])["feat/appr"].review_decision == "review_required"
    gl.approve(mr, "dave")
    assert plugin.pr_states(REPO, ["feat/appr"])["feat/appr"].review_decision == "approved"


def test_unresolved_discussions_are_changes_requested(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/review", author="ao-bot-user")
    d = gl.add_discussion(mr, "alice", "Rename this", path="src/a.py", line=12,
                          replies=[("bob", "+1, and \x1b[2Jtest it")])  # fmt: skip
    gl.add_discussion(mr, "alice", "done already", path="src/b.py", line=3, resolved=True)
    gl.add_discussion(mr, "ao-bot-user", "note to self", path="src/c.py", line=1)  # the author
    gl.add_discussion(mr, "project_42_bot_1f2e", "style nit", path="src/d.py", line=7)
    gl.add_discussion(mr, "erin", "Nice work overall", resolvable=False)  # a plain comment
    gl.add_discussion(mr, "carol", "Please add tests")
    state = scm(clock).pr_states(REPO, ["feat/review"])["feat/review"]
    assert state.review_decision == "changes_requested"
    assert [(c.author, c.body, c.path, c.line) for c in state.comments] == [
        ("alice", "Rename this", "src/a.py", 12),
        ("bob", "+1, and \x1b[2Jtest it", "src/a.py", 12),  # raw: reactions fence it
        ("carol", "Please add tests", "", None),
    ]
    assert state.comments[0] == ReviewComment(str(d.notes[0].id), "alice", "Rename this",
                                              "src/a.py", 12)  # fmt: skip
    gl.touch(mr)
    with_bots = scm(clock, reviewBots=["project_42_bot_1f2e"]).pr_states(REPO, ["feat/review"])
    assert ("project_42_bot_1f2e", "style nit") in [(c.author, c.body) for c in
                                                    with_bots["feat/review"].comments]  # fmt: skip
    # once approved, the approval wins; the open threads still travel with the state
    gl.approve(mr, "carol")
    approved = scm(clock).pr_states(REPO, ["feat/review"])["feat/review"]
    assert approved.review_decision == "approved" and len(approved.comments) == 3
    # resolving every thread clears the request
    for disc in mr.discussions:
        for note in disc.notes:
            note.resolved = True
    mr.approved_by.clear()
    gl.touch(mr)
    cleared = scm(clock).pr_states(REPO, ["feat/review"])["feat/review"]
    assert (cleared.review_decision, cleared.comments) == ("none", ())


def test_gitlab_requested_changes_status_counts(gl: FakeGitLab, clock: Clock) -> None:
    gl.add_mr(REPO, "feat/rc", detailed_merge_status="requested_changes")
    assert scm(clock).pr_states(REPO, ["feat/rc"])["feat/rc"].review_decision == "changes_requested"


def test_resolution_without_an_update_is_seen_after_max_age(gl: FakeGitLab, clock: Clock) -> None:
    mr = gl.add_mr(REPO, "feat/age")
    d = gl.add_discussion(mr, "alice", "fix it")
    plugin = scm(clock, maxAge=300)
    assert plugin.pr_states(REPO, ["feat/age"])["feat/age"].review_decision == "changes_requested"
    d.notes[0].resolved = True  # resolved without touching the MR
    assert plugin.pr_states(REPO, ["feat/age"])["feat/age"].review_decision == "changes_requested"
    clock.now += 301
    assert plugin.pr_states(REPO, ["feat/age"])["feat/age"].review_decision == "none"


# ----------------------------------------------------------------------------- mergeability


def test_conflicts_and_asynchronous_mergeability(gl: FakeGitLab, clock: Clock) -> None:
    gl.add_mr(REPO, "feat/conflict", has_conflicts=True, detailed_merge_status="conflict")
    slow = gl.add_mr(REPO, "feat/slow", detailed_merge_status="checking")
    plugin = scm(clock)
    states = plugin.pr_states(REPO, ["feat/conflict", "feat/slow"])
    assert (states["feat/conflict"].conflicts, states["feat/conflict"].mergeable) == (True, False)
    assert (states["feat/slow"].conflicts, states["feat/slow"].mergeable) == (False, None)
    gl.requests.clear()
    assert plugin.pr_states(REPO, ["feat/slow"])["feat/slow"].mergeable is None
    assert gl.count("GET", rf"{MRS}/{slow.iid}$") == 1  # asked again: the GET starts the check
    slow.recheck_to = "mergeable"
    assert plugin.pr_states(REPO, ["feat/slow"])["feat/slow"].mergeable is True
    gl.requests.clear()
    plugin.pr_states(REPO, ["feat/slow"])
    assert gl.count("GET", rf"{MRS}/{slow.iid}$") == 0


# ----------------------------------------------------------------------------- request counts


def test_50_mrs_first_pass_then_only_304s(gl: FakeGitLab, clock: Clock) -> None:
    mrs = seed(gl, 50)
    branches = [mr.source_branch for mr in mrs]
    first = scm(clock).pr_states(REPO, [*branches, "feat/no-mr"])
    assert sorted(first) == branches and {s.ci for s in first.values()} == {"passing"}
    # 1 MR list + 1 pipeline list + approvals and discussions per open MR
    assert len(gl.requests) == 2 + 2 * 50
    gl.requests.clear()
    clock.now += 30
    second = scm(clock).pr_states(REPO, [*branches, "feat/no-mr"])  # `ao watch --once` again
    assert second == first
    assert calls(gl) == [f"GET {MRS} 304", "GET /projects/group/sub/app/pipelines 304"]
    assert all(r.conditional for r in gl.requests)
    # one MR pushed to: only its review details are read again (answered 304: unchanged)
    gl.push(REPO, mrs[7])
    gl.requests.clear()
    third = scm(clock).pr_states(REPO, branches)
    assert third[mrs[7].source_branch].head_sha == mrs[7].sha
    assert third[mrs[7].source_branch].ci == "none"  # no pipeline for the new head yet
    assert calls(gl) == sorted([
        f"GET {MRS} 200", "GET /projects/group/sub/app/pipelines 304",
        f"GET {MRS}/{mrs[7].iid}/approvals 304", f"GET {MRS}/{mrs[7].iid}/discussions 304",
    ])  # fmt: skip


def test_pages_are_read_only_back_to_the_last_pass(gl: FakeGitLab, clock: Clock) -> None:
    mrs = seed(gl, 150)
    old = [mr.source_branch for mr in mrs[:10]]  # least recently updated: on page 2
    plugin = scm(clock, concurrency=1)
    assert len(plugin.pr_states(REPO, old)) == 10
    assert gl.count("GET", f"{MRS}$") == 2
    gl.requests.clear()
    plugin.pr_states(REPO, old)  # nothing changed: page 1 ends before the watermark
    assert calls(gl) == [f"GET {MRS} 304", "GET /projects/group/sub/app/pipelines 304"]
    gl.touch(mrs[3])  # now on page 1
    gl.requests.clear()
    assert len(plugin.pr_states(REPO, old)) == 10
    assert gl.count("GET", f"{MRS}$") == 1
    # one branch nobody listed recently: looked up by name instead of reading every page
    gl.requests.clear()
    one = mrs[20].source_branch
    assert scm(clock).pr_states(REPO, [one])[one].number == mrs[20].iid
    [lookup] = [r for r in gl.requests if "source_branch" in r.query]
    assert lookup.query["source_branch"] == [one]


def test_a_busy_project_is_read_back_to_the_watermark(gl: FakeGitLab, clock: Clock) -> None:
    mrs = [gl.add_mr(REPO, f"feat/w{i}") for i in range(5)]
    branches = [mr.source_branch for mr in mrs]
    plugin = scm(clock)
    plugin.pr_states(REPO, branches)
    new_sha = gl.push(REPO, mrs[1])
    for i in range(100):  # then 100 other MRs move: the push is on page 2 now
        gl.add_mr(REPO, f"feat/other-{i}")
    gl.requests.clear()
    assert plugin.pr_states(REPO, branches)["feat/w1"].head_sha == new_sha
    assert gl.count("GET", f"{MRS}$") == 2


# ----------------------------------------------------------------------------- limits and errors


def test_429_is_waited_out_and_retried(gl: FakeGitLab, clock: Clock) -> None:
    seed(gl, 2)
    gl.too_many(r"/merge_requests$", retry_after=3)
    states = scm(clock).pr_states(REPO, ["feat/b-00", "feat/b-01"])
    assert len(states) == 2 and clock.sleeps == [3.0]
    assert [r.status for r in gl.matching("GET", f"{MRS}$")] == [429, 200]


def test_long_429_pauses_without_losing_state(gl: FakeGitLab, clock: Clock) -> None:
    mrs = seed(gl, 2)
    branches = [mr.source_branch for mr in mrs]
    scm(clock).pr_states(REPO, branches)
    new_sha = gl.push(REPO, mrs[0])
    gl.too_many(r"/approvals$", retry_after=120)  # cut the pass short half-way
    with pytest.raises(RateLimitError) as info:
        scm(clock).pr_states(REPO, branches)
    assert isinstance(info.value, AoError) and info.value.until == clock.now + 120
    assert clock.sleeps == []  # too long to wait in line: the tick goes on
    gl.requests.clear()
    with pytest.raises(RateLimitError):  # the pause is on disk: a new process waits too
        scm(clock).pr_states(REPO, branches)
    assert gl.requests == []
    clock.now += 121
    states = scm(clock).pr_states(REPO, branches)
    assert states["feat/b-00"].head_sha == new_sha  # the change was not marked as seen


def test_reserve_stops_polling_but_not_merges(gl: FakeGitLab, clock: Clock) -> None:
    seed(gl, 1)
    plugin = scm(clock)
    state = plugin.pr_states(REPO, ["feat/b-00"])["feat/b-00"]
    gl.limit[1] = 300  # of 2000: below the 20% reserve
    gl.reset_at = int(clock.now + 60)
    gl.requests.clear()
    with pytest.raises(RateLimitError, match="reserve"):
        plugin.pr_states(REPO, ["feat/b-00"])  # learns the limit from the first answer
    assert len(gl.requests) == 1
    plugin.merge(REPO, state, "merge")  # a human's command may use the reserve
    clock.now += 61
    gl.limit[1] = 2000
    assert plugin.pr_states(REPO, ["feat/b-00"])["feat/b-00"].state == "merged"


def test_bad_gateway_is_retried(gl: FakeGitLab, clock: Clock) -> None:
    seed(gl, 1)
    gl.fail("GET", r"/pipelines$", 502, times=2)
    assert scm(clock).pr_states(REPO, ["feat/b-00"])["feat/b-00"].ci == "passing"
    assert clock.sleeps == [1.0, 2.0]
    gl.fail("GET", r"/merge_requests$", 502, times=3)
    with pytest.raises(AoError, match="502"):
        scm(clock).pr_states(REPO, ["feat/b-00"])


def test_bad_or_missing_token_is_a_clear_error(
    gl: FakeGitLab, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(gl, 1)
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong-secret-value")
    with pytest.raises(AuthError) as info:
        scm(clock).pr_states(REPO, ["feat/b-00"])
    text = f"{info.value} {info.value.hint}"
    assert "401" in text and "GITLAB_TOKEN" in text and "glpat-wrong-secret-value" not in text
    assert gl.requests[-1].token == "glpat-wrong-secret-value"  # sent as PRIVATE-TOKEN
    monkeypatch.delenv("GITLAB_TOKEN")
    with pytest.raises(AuthError, match="no GitLab token"):
        scm(clock).pr_states(REPO, ["feat/b-00"])
    monkeypatch.setenv("GL_TOKEN", gl.token)
    assert scm(clock).pr_states(REPO, ["feat/b-00"])
    monkeypatch.setenv("MY_GITLAB", gl.token)
    monkeypatch.setenv("GL_TOKEN", "wrong")
    assert scm(clock, tokenEnv="MY_GITLAB").pr_states(REPO, ["feat/b-00"])


def test_project_paths_and_instance_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert project_id("group/sub/app") == "group%2Fsub%2Fapp" and project_id("42") == "42"
    for bad in ("app", "group//app", "../x/y", "group/app?x", "a b/c"):
        with pytest.raises(UsageError):
            project_id(bad)
    monkeypatch.delenv("AO_GITLAB_URL", raising=False)
    assert base_url({}) == "https://gitlab.com"
    assert base_url({"url": "https://git.corp/api/v4/"}) == "https://git.corp"
    monkeypatch.setenv("AO_GITLAB_URL", "http://127.0.0.1:9")
    assert base_url({"url": "https://git.corp"}) == "http://127.0.0.1:9"


def test_unknown_project_is_not_found(gl: FakeGitLab, clock: Clock) -> None:
    with pytest.raises(AoError, match="404 Project Not Found"):
        scm(clock).pr_states("group/missing", ["feat/x"])


# ----------------------------------------------------------------------------- merge


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_merge_with_each_strategy(gl: FakeGitLab, clock: Clock, strategy: str) -> None:
    mr = gl.add_mr(REPO, "feat/done", rebase_polls=2)
    plugin = scm(clock)
    pr = plugin.pr_states(REPO, ["feat/done"])["feat/done"]
    plugin.merge(REPO, pr, strategy)
    assert mr.state == "merged" and mr.squash == (strategy == "squash")
    assert mr.removed_source_branch is True
    [put] = gl.matching("PUT", r"/merge$")
    assert put.status == 200
    assert mr.rebased == (strategy == "rebase")
    if strategy == "rebase":
        assert clock.sleeps == [1.0, 2.0]  # polled until GitLab finished the rebase
        assert mr.sha != pr.head_sha  # merged at the rebased head
    assert plugin.pr_states(REPO, ["feat/done"])["feat/done"].state == "merged"


def test_merge_refusals_are_conflicts_with_reasons(gl: FakeGitLab, clock: Clock) -> None:
    a = gl.add_mr(REPO, "feat/a")
    gl.add_mr(REPO, "feat/b", has_conflicts=True, detailed_merge_status="conflict")
    gl.add_mr(REPO, "feat/c", detailed_merge_status="not_approved")
    gl.add_mr(REPO, "feat/d", rebase_conflict=True)
    plugin = scm(clock, deleteBranch=False)
    s = plugin.pr_states(REPO, ["feat/a", "feat/b", "feat/c", "feat/d"])
    with pytest.raises(ConflictError, match="422"):
        plugin.merge(REPO, s["feat/b"], "squash")
    with pytest.raises(ConflictError, match="not_approved"):
        plugin.merge(REPO, s["feat/c"], "merge")
    with pytest.raises(ConflictError, match="could not rebase"):
        plugin.merge(REPO, s["feat/d"], "rebase")
    gl.push(REPO, a)  # someone pushed after ao looked
    with pytest.raises(ConflictError, match="moved since ao looked"):
        plugin.merge(REPO, s["feat/a"], "squash")
    with pytest.raises(ConflictError, match="moved since ao looked"):
        plugin.merge(REPO, s["feat/a"], "rebase")
    assert a.rebased == 0  # the rebase was not even started
    with pytest.raises(UsageError, match="unknown merge strategy"):
        plugin.merge(REPO, s["feat/a"], "octopus")
    fresh = plugin.pr_states(REPO, ["feat/a"])["feat/a"]
    plugin.merge(REPO, fresh, "merge")
    assert a.state == "merged" and a.removed_source_branch is False  # deleteBranch: false
    assert "feat/a" in gl.projects[REPO].branches
    plugin.merge(REPO, fresh, "merge")  # merged already: nothing to do, no error


# ----------------------------------------------------------------------------- open_pr


def test_open_pr_is_idempotent_and_drafts_are_titled(gl: FakeGitLab, clock: Clock) -> None:
    gl.project(REPO)
    plugin = scm(clock)
    first = plugin.open_pr(REPO, head="feat/new", base="main", title="Add login", body="Closes #7")
    again = plugin.open_pr(REPO, head="feat/new", base="main", title="Add login")
    assert first.number == again.number and first.state == "open"
    mr = gl.projects[REPO].mrs[first.number]
    assert (mr.title, mr.description, mr.target_branch) == ("Add login", "Closes #7", "main")
    assert len(gl.projects[REPO].mrs) == 1
    draft = plugin.open_pr(REPO, head="feat/wip", base="main", title="Try", draft=True)
    assert draft.draft and gl.projects[REPO].mrs[draft.number].title == "Draft: Try"
    assert plugin.pr_states(REPO, ["feat/new"])["feat/new"].number == first.number


# ----------------------------------------------------------------------------- trimming


def test_trim_trace_keeps_failures_and_the_end() -> None:
    lines = [f"line {i}" for i in range(5000)]
    lines[100] = "FAIL src/app.test.ts > adds"
    lines[200] = "--- FAIL: TestParse (0.00s)"
    text = trim_trace(lines, tail=10)
    assert text.startswith("Failures:\nFAIL src/app.test.ts > adds\n--- FAIL: TestParse")
    assert text.endswith("line 4999") and "line 4989" not in text
    assert trim_trace([]) == ""
    assert len(trim_trace([f"Error: {i} " + "x" * 500 for i in range(100)], max_chars=2000)) <= 2000
    # a progress bar redrawn with carriage returns, then the runner's exit line
    assert trim_trace(["10%\r50%\r100% done", "ERROR: Job failed: exit code 2"]) == (
        "10%\n50%\n100% done\nERROR: Job failed: exit code 2"
    )
