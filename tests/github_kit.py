"""Fixtures shared by the GitHub plugin tests: the fake GitHub server and a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import graphql_schema
from tests.fakes.fakegithub import FakeGitHub


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
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A running fake GitHub the plugins reach through ``AO_GITHUB_API_URL``.

    Every GraphQL query sent to it is validated against GitHub's real schema; the test
    fails at teardown if any did not validate.
    """
    reason = graphql_schema.available()
    if reason:  # `make test` installs it; a missing schema must not pass silently
        pytest.fail(reason)
    graphql_schema.load()  # build it outside any request's timeout
    server = FakeGitHub().start()
    monkeypatch.setenv("AO_GITHUB_API_URL", server.url)
    monkeypatch.setenv("GITHUB_TOKEN", server.token)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    yield server
    server.stop()
    assert not server.schema_errors, (
        f"queries that do not fit GitHub's schema: {server.schema_errors}"
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()
