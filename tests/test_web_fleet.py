"""The shared fleet poller: viewers do not multiply runtime calls.

The server runs in-process (uvicorn in a thread, on 127.0.0.1) over an ``Orchestrator``
whose runtime is the in-memory one of tests/fakes/fakeruntime.py, which counts its calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml

from ao.api import Orchestrator
from ao.config import load_config
from ao.session.context import Context
from ao.web.app import create_app
from ao.web.security import Policy
from ao.web.server import bind
from tests.fakes.fakeruntime import FakeRuntime

TOKEN = "t" * 43
INTERVAL = 0.5  # the least time between two snapshots (1 s in `ao dashboard`)


class FakeOrchestrator(Orchestrator):
    """The API over the test's config, with the in-memory runtime."""

    def __init__(self, config: Path, fake: FakeRuntime) -> None:
        super().__init__(config.parent, config)
        self.fake = fake

    @property
    def context(self) -> Context:
        if self._ctx is None:
            path = self.config_path
            assert path is not None
            self._ctx = Context(load_config(path), plugins={("runtime", "fake"): self.fake})
        return self._ctx


class Served:
    def __init__(self, url: str, fake: FakeRuntime, server: uvicorn.Server) -> None:
        self.url, self.fake, self.server = url, fake, server

    def probes(self) -> int:
        return self.fake.calls.get("probe", 0)


@pytest.fixture
def served(git_repo: Path) -> Iterator[Served]:
    config = git_repo.parent / "agent-orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "defaults": {"agent": "shell", "runtime": "fake"},
        "projects": {"demo": {"path": str(git_repo), "sessionPrefix": "d"}},
    }))  # fmt: skip
    fake = FakeRuntime()
    api = FakeOrchestrator(config, fake)
    for task in ("one", "two"):
        api.create(task, project="demo", ready_timeout=5)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(api, Policy(token=TOKEN, host="127.0.0.1", port=port), poll_interval=INTERVAL)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", fake, server)
    finally:
        server.should_exit = True
        thread.join(10)


async def watch(url: str, viewers: int, seconds: float, polls: int = 0) -> list[int]:
    """``viewers`` event streams open for ``seconds`` while ``polls`` clients list the
    sessions as fast as they can; the number of `sessions` messages each stream got."""
    got = [0] * viewers
    stop = asyncio.Event()

    async def viewer(i: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/events/stream") as r:
            async for line in r.aiter_lines():
                if line == "event: sessions":
                    got[i] += 1
                if stop.is_set():
                    return

    async def poller(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            r = await client.get("/api/sessions")
            assert [row["id"] for row in r.json()] == ["d-1", "d-2"]

    limits = httpx.Limits(max_connections=viewers + polls + 5)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        tasks = [asyncio.create_task(viewer(i, client)) for i in range(viewers)]
        tasks += [asyncio.create_task(poller(client)) for _ in range(polls)]
        await asyncio.sleep(seconds)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return got


def test_twenty_viewers_cost_the_runtime_what_one_does(served: Served) -> None:
    seconds = 3.0
    before = served.probes()
    one = asyncio.run(watch(served.url, viewers=1, seconds=seconds))
    alone = served.probes() - before
    time.sleep(INTERVAL * 3)

    before = served.probes()
    many = asyncio.run(watch(served.url, viewers=20, seconds=seconds, polls=20))
    crowd = served.probes() - before
    # one refresh per interval at most, however many watch: 2 runtime calls each (a probe
    # and one batched capture), as `ao list`
    most = seconds / INTERVAL + 2
    assert alone <= most and crowd <= most, (alone, crowd)
    assert crowd <= alone + 2, (alone, crowd)
    assert served.fake.calls["capture_many"] <= served.probes()
    assert one == [1] and all(n == 1 for n in many), (one, many)  # the fleet did not change


def test_the_poller_runs_only_while_someone_watches(served: Served) -> None:
    asyncio.run(watch(served.url, viewers=3, seconds=1.0))
    time.sleep(INTERVAL * 2)  # the last viewer left: the poller stops
    idle = served.probes()
    time.sleep(INTERVAL * 4)
    assert served.probes() == idle
    with httpx.Client(base_url=served.url) as c:
        assert c.get("/api/health").json()["viewers"] == 0


def test_streams_see_a_change_within_an_interval(served: Served) -> None:
    async def scenario() -> list[list[str]]:
        seen: list[list[str]] = []
        async with (
            httpx.AsyncClient(base_url=served.url, timeout=30) as client,
            client.stream("GET", "/api/events/stream") as r,
        ):
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "sessions":
                    seen.append([row["activity"] for row in json.loads(line[6:])])
                    if len(seen) == 1:
                        served.fake.exit("d-1")  # the agent's process ends
                        changed_at.append(time.monotonic())
                    else:
                        return seen
        return seen

    changed_at: list[float] = []
    seen = asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    assert seen[0][0] != "exited" and seen[1][0] == "exited", seen
    assert time.monotonic() - changed_at[0] < INTERVAL * 4


def test_cards_carry_the_pr_and_the_question_and_read_usage_seldom(git_repo: Path) -> None:
    """A card has the record's pull request and issue and the question on screen, from the
    same two runtime calls as the list; the agents' usage is read at most every
    ``usage_every`` seconds and carried over in between."""
    from ao.api import SessionCard
    from ao.sdk.contracts import SessionInfo
    from ao.web.fleet import Cards

    config = git_repo.parent / "agent-orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "defaults": {"agent": "shell", "runtime": "fake"},
        "agents": {"shell": {"questionPattern": r"\?\s*$"}},
        "projects": {"demo": {"path": str(git_repo), "sessionPrefix": "d"}},
    }))  # fmt: skip
    fake = FakeRuntime()
    api = FakeOrchestrator(config, fake)
    api.create("one", project="demo", ready_timeout=5)
    store = api.context.project("demo").store
    store.update("d-1", pr="https://github.com/o/r/pull/7", pr_number=7, issue="3",
                 issue_url="https://github.com/o/r/issues/3", issue_title="Fix it")  # fmt: skip
    fake.show("d-1", "$ deploy", "Deploy to production?", command="sh")

    usage_reads: list[bool] = []
    real_cards = api.cards

    def cards(project: str | None = None, *, usage: bool = False) -> list[SessionCard]:
        usage_reads.append(usage)
        found = real_cards(project, usage=usage)
        info = SessionInfo(input_tokens=1200, output_tokens=34, cost_usd=0.05) if usage else None
        return [dataclasses.replace(card, info=info) for card in found]

    api.cards = cards  # type: ignore[method-assign]
    source = Cards(api, usage_every=0.5)
    before = dict(fake.calls)
    (row,) = source(False)
    assert {
        k: fake.calls[k] - before.get(k, 0) for k in fake.calls if fake.calls[k] != before.get(k, 0)
    } == {"probe": 1, "capture_many": 1}
    assert (row["pr"], row["pr_number"], row["issue"], row["issue_title"]) == (
        "https://github.com/o/r/pull/7", 7, "3", "Fix it")  # fmt: skip
    assert row["activity"] == "needs_input" and "Deploy to production?" in row["evidence"]["detail"]
    assert row["info"]["input_tokens"] == 1200
    for _ in range(3):  # within the interval: no usage read, the last one carried over
        assert source(False)[0]["info"]["cost_usd"] == 0.05
    time.sleep(0.6)
    source(False)
    assert usage_reads == [True, False, False, False, True]
    archived = source(True)  # stopped sessions too, as `ao list --all` has them
    assert [set(r) for r in archived] == [set(api.sessions()[0].to_json())]
