"""Fixtures shared by the GitLab plugin tests: the fake GitLab server and a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fakegitlab import FakeGitLab

# a GitLab runner's trace of a failed pytest job, escape sequences and section markers included
TRACE = (
    "\x1b[0KRunning with gitlab-runner 17.0.0 (44feccdf)\x1b[0;m\n"
    "\x1b[0K  on docker-1 xyz, system ID: s_123\x1b[0;m\n"
    "section_start:1700000000:prepare_executor\r\x1b[0K\x1b[0K\x1b[36;1mPreparing the "
    '"docker" executor\x1b[0;m\x1b[0;m\n'
    "\x1b[0KUsing docker image python:3.12\x1b[0;m\n"
    "section_end:1700000001:prepare_executor\r\x1b[0Ksection_start:1700000001:get_sources\r"
    "\x1b[0K\x1b[0K\x1b[36;1mGetting source from Git repository\x1b[0;m\x1b[0;m\n"
    "Fetching changes with git depth set to 20...\n"
    "section_end:1700000002:get_sources\r\x1b[0Ksection_start:1700000002:step_script\r\x1b[0K"
    '\x1b[0K\x1b[36;1mExecuting "step_script" stage of the job script\x1b[0;m\x1b[0;m\n'
    "\x1b[32;1m$ pytest -q\x1b[0;m\n"
    "tests/test_calc.py .F.\n"
    "E   assert 3 == 4\n"
    "FAILED tests/test_calc.py::test_add - assert 3 == 4\n"
    "1 failed, 2 passed in 0.12s\n"
    "section_end:1700000003:step_script\r\x1b[0Ksection_start:1700000003:cleanup_file_variables\r"
    "\x1b[0K\x1b[0K\x1b[36;1mCleaning up project directory and file based variables\x1b[0;m\x1b[0;m\n"
    "section_end:1700000004:cleanup_file_variables\r\x1b[0K\x1b[31;1mERROR: Job failed: exit code 1\n"
    "\x1b[0;m\n"
)


class Clock:
    """Injectable time: ``sleep`` advances it and records each wait."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def gl(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    """A running fake GitLab the plugins reach through ``AO_GITLAB_URL``.

    The fake answers 400 to any parameter or body key GitLab's API does not define for
    the route (or a bad value); the test fails at teardown if the plugins sent any.
    """
    server = FakeGitLab().start()
    monkeypatch.setenv("AO_GITLAB_URL", server.url)
    monkeypatch.setenv("GITLAB_TOKEN", server.token)
    monkeypatch.delenv("GL_TOKEN", raising=False)
    yield server
    server.stop()
    assert not server.bad_requests, f"calls GitLab would refuse: {server.bad_requests}"


@pytest.fixture
def clock() -> Clock:
    return Clock()
