"""End to end: `ao watch --once` with `scm: gitlab` reads a failed pipeline from the fake GitLab."""
# ruff: noqa: F811  (the fixtures imported from tests.gitlab_kit are used as arguments)

from __future__ import annotations

import pytest

from tests.fakes.fakegitlab import FakeGitLab
from tests.gitlab_kit import TRACE, gl  # noqa: F401  (fixture)
from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux


def test_failed_pipeline_makes_the_session_ci_failed_with_the_log(
    gl: FakeGitLab, proj: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AO_GITLAB_URL")  # the CLI finds GitLab through the config alone
    proj.use_receiver(
        scm="gitlab", tracker="gitlab", repo="group/app",
        top={"plugins": {"gitlab": {"url": gl.url}},
             "reactions": {"ci-failed": {"retries": 2, "cooldown": "0s"}}},
    )  # fmt: skip
    assert proj.ao("new", "build the feature").returncode == 0
    wait_for(lambda: proj.received() == ["build the feature"], what="task")
    mr = gl.add_mr("group/app", "ao/d-1")
    gl.add_pipeline("group/app", mr, "failed", [("unit", "failed", TRACE), ("lint", "success")])

    tick = proj.ao_json("watch", "--once")
    assert isinstance(tick, dict)
    moved = [x for x in tick["transitions"] if x["session"] == "d-1"]
    assert moved and moved[-1]["to"] == "ci_failed"
    assert [a["reaction"] for a in tick["actions"] if a["session"] == "d-1"] == ["ci-failed"]
    assert proj.ao_json("list")[0]["status"] == "ci_failed"  # type: ignore[index]
    wait_for(lambda: len(proj.received()) == 2, what="the ci-failed message")
    message = proj.received()[1]
    assert "Check unit failed" in message and "/-/jobs/" in message
    assert "FAILED tests/test_calc.py::test_add - assert 3 == 4" in message
    assert "ERROR: Job failed: exit code 1" in message
    assert (
        "\x1b" not in message and "section_start" not in message and "untrusted CI log" in message
    )
    # the next one-shot pass: nothing changed, so two conditional list requests, both 304
    gl.requests.clear()
    proj.ao_json("watch", "--once")
    assert sorted((r.path.rsplit("/", 1)[-1], r.status) for r in gl.requests) == [
        ("merge_requests", 304), ("pipelines", 304)]  # fmt: skip
