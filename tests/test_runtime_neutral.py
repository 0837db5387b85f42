"""The core knows runtimes only through the ``Runtime`` contract.

1. No core module spells ``tmux`` (outside the allow-list below, each entry with its
   reason), builds an exact tmux-style target or makes a ``RuntimeHandle`` itself.
2. Spawn rollback, the watch loop, gc and the watcher's own session, run in-process on
   the in-memory runtime (``tests/fakes/fakeruntime.py``): fast, no tmux.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ao.config import load_config
from ao.sdk.errors import CommandError, ConflictError, SpawnError
from ao.session.context import Context, Project
from tests.fakes.fakeruntime import FakeRuntime

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "ao"
# front-ends render and parse; the config's models are the config file's schema, which
# has the runtime defaults (`defaults.runtime: tmux`) and the top-level `tmux:` block
NOT_CORE = ("ao/cli/", "ao/completion/", "ao/config/models.py")
# file -> (a pattern each line that says tmux must match, why)
ALLOWED: dict[str, list[tuple[str, str]]] = {
    "ao/__init__.py": [
        (r"agents in tmux sessions", "the package's one-line description, as in the README"),
    ],
    "ao/config/base.py": [
        (r"the top-level ``tmux`` block, for the tmux runtime", "the config file's `tmux:` block"),
        (r'if name != "tmux":', "is the tmux runtime's options: the config file's format"),
        (r"self\.model\.tmux\.model_dump", "reads that block"),
    ],
    "ao/store/handles.py": [
        (r"as ``tmux_name=`` and ``pane_id=``", "the stored key names, explained"),
        (r'NAME_KEY = "tmux_name"', "a stored format: renaming the key orphans live sessions"),
    ],
    "ao/session/environment.py": [
        (r'"TMUX", "TMUX_PANE"', "variables of the caller's own terminal, kept from agents"),
    ],
    "ao/config/snapshot.py": [
        (
            r'shutil\.which\("tmux"\) is not None',
            "the default runtime (tmux if installed, else "
            "process) is part of what the cached config depends on",
        ),
    ],
    "ao/api/doctor.py": [
        (r'shutil\.which\("tmux"\) is None', "says why sessions run on the process runtime"),
        (r"tmux is not installed: sessions run on the", "...in these words"),
        (r"process runtime \(install tmux, or set", "...in these words"),
    ],
    "ao/session/ops.py": [
        (r'"tmux": s\.runtime_name', "the `--json` v1 contract's field (pinned by tests)"),
    ],
    "ao/api/results.py": [
        (r'"tmux"|\btmux[:=]|self\.tmux', "the `--json` v1 contract's field (pinned by tests)"),
    ],
}


def core_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(NOT_CORE):
            yield rel, path


def test_no_tmux_in_the_core() -> None:
    unexplained, used = [], set()
    for rel, path in core_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "tmux" not in line.lower():
                continue
            allowed = [s for s, _ in ALLOWED.get(rel, []) if re.search(s, line)]
            used.update((rel, s) for s in allowed)
            if not allowed:
                unexplained.append(f"{rel}:{number}: {line.strip()}")
    assert unexplained == [], "tmux outside the runtime plugin:\n" + "\n".join(unexplained)
    stale = [(f, s) for f, entries in ALLOWED.items() for s, _ in entries if (f, s) not in used]
    assert stale == [], f"allow-list entries that match nothing any more: {stale}"


def test_only_the_store_spells_the_stored_handle_keys() -> None:
    """``tmux_name=`` and ``pane_id=`` stay on disk; ``ao.store.handles`` alone names them."""
    found = []
    for rel, path in core_files():
        if rel == "ao/store/handles.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"""["'](tmux_name|pane_id)["']""", line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert found == []


def test_the_core_builds_no_runtime_targets_or_handles() -> None:
    """Targets come from the runtime (``create``, ``handle``) or from the record."""
    found = []
    for rel, path in core_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if (
                re.search(r"""["']=\{|"%\{|RuntimeHandle\(""", line)
                and rel != "ao/store/handles.py"
            ):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert found == []


# ----------------------------------------------------------------------------- in-process


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


def make_ctx(git_repo: Path, fake: FakeRuntime, **top: object) -> Context:
    config = {
        "defaults": {"agent": "shell", "runtime": "fake"},
        "projects": {"demo": {"path": str(git_repo), "sessionPrefix": "d"}},
        **top,
    }
    path = git_repo.parent / "agent-orchestrator.yaml"
    path.write_text(yaml.safe_dump(config))
    return Context(load_config(path), plugins={("runtime", "fake"): fake})


@pytest.fixture
def ctx(git_repo: Path, fake: FakeRuntime) -> Context:
    return make_ctx(git_repo, fake)


@pytest.fixture
def project(ctx: Context) -> Project:
    project = ctx.project("demo")
    project.paths.ensure()
    return project


def new(ctx: Context, project: Project, task: str = "do the thing", timeout: float = 5.0) -> str:
    from ao.session.spawn import spawn

    return spawn(ctx, project, task, ready_timeout=timeout).session_id


def assert_nothing_left(project: Project, session_id: str) -> None:
    assert not (project.paths.worktrees / session_id).exists()
    assert git(project.repo_path, "branch", "--list", f"ao/{session_id}") == ""
    assert git(project.repo_path, "worktree", "list", "--porcelain").count("worktree ") == 1
    record = project.store.read(session_id)
    assert (record.status, record.step) == ("errored", "rolled-back")


def test_the_fake_runtime_keeps_the_runtime_contract() -> None:
    from ao.sdk.conformance import problems

    assert problems("runtime", FakeRuntime) == []
    assert problems("runtime", FakeRuntime()) == []


def test_spawn_delivers_the_task_and_stores_the_handle_in_the_old_keys(
    ctx: Context, project: Project, fake: FakeRuntime
) -> None:
    sid = new(ctx, project, "fix the login bug")
    pane = fake.pane(sid)
    assert pane.submitted == ["fix the login bug"] and pane.keys == ["Enter"]
    assert pane.spec.name == f"{project.paths.hash}-{sid}"
    assert pane.spec.cwd == project.paths.worktrees / sid
    record = project.store.read(sid)
    assert (record.status, record.prompt_delivery) == ("working", "delivered")
    # the on-disk format stays: live sessions of an older ao keep their handles
    text = (project.paths.sessions / sid).read_text()
    assert f"tmux_name={pane.name}\n" in text and f"pane_id={pane.target}\n" in text


def test_spawn_rolls_back_when_the_runtime_cannot_create(
    ctx: Context, project: Project, fake: FakeRuntime
) -> None:
    fake.fail_create = CommandError("no server")
    with pytest.raises(SpawnError, match="could not start session d-1: no server"):
        new(ctx, project)
    assert fake.panes == {} and fake.calls["create"] == 1
    assert_nothing_left(project, "d-1")
    assert "no server" in (project.store.read("d-1").error or "")


def test_spawn_rolls_back_a_session_it_created_when_the_agent_never_gets_ready(
    ctx: Context, project: Project, fake: FakeRuntime
) -> None:
    fake.on_create = lambda pane: pane.lines.__setitem__(slice(None), [""])  # prints nothing
    with pytest.raises(SpawnError, match="did not become ready"):
        new(ctx, project, timeout=0.3)
    assert fake.panes == {}
    assert fake.destroyed == [f"{project.paths.hash}-d-1"]
    assert_nothing_left(project, "d-1")


def test_a_tick_moves_statuses_from_what_the_runtime_shows(
    ctx: Context, project: Project, fake: FakeRuntime
) -> None:
    from ao.lifecycle.watch import tick

    ids = [new(ctx, project, f"task {n}") for n in range(4)]
    assert ids == ["d-1", "d-2", "d-3", "d-4"]
    fake.ready("d-1")
    fake.work("d-2")
    fake.exit("d-3", 3)
    fake.vanish("d-4")  # a reboot: the runtime lost the session
    fake.calls.clear()
    report = tick(ctx, [project])
    assert report.errors == []
    moved = {sid: (old, new) for sid, old, new, _rule in report.transitions}
    assert moved == {
        "d-1": ("working", "ready"),
        "d-3": ("working", "exited"),
        "d-4": ("working", "exited"),
    }
    statuses = {s.id: s.status for s in project.store.list()}
    assert statuses == {"d-1": "ready", "d-2": "working", "d-3": "exited", "d-4": "exited"}
    # one probe and one batched capture for every session, as the real runtime
    assert (fake.calls.get("probe"), fake.calls.get("capture_many")) == (1, 1)
    # the next tick has nothing to do; then the working agent finishes its turn
    assert tick(ctx, [project]).transitions == []
    fake.ready("d-2")
    assert [(t[0], t[2]) for t in tick(ctx, [project]).transitions] == [("d-2", "ready")]


def test_the_watcher_restores_a_vanished_session_through_the_runtime(
    git_repo: Path, fake: FakeRuntime
) -> None:
    from ao.lifecycle.watch import tick

    ctx = make_ctx(git_repo, fake, restoreOnBoot=True)
    project = ctx.project("demo")
    sid = new(ctx, project)
    old = fake.pane(sid)
    fake.vanish(sid)
    report = tick(ctx, [project])
    assert [(t[0], t[2]) for t in report.transitions] == [(sid, "working")]
    again = fake.pane(sid)
    assert again.target != old.target and again.spec.name == old.spec.name
    assert project.store.read(sid).runtime_target == again.target


def test_gc_ends_only_its_own_orphans_through_the_runtime(
    ctx: Context, project: Project, fake: FakeRuntime
) -> None:
    from ao.lifecycle.watch import ensure_watcher
    from ao.sdk.contracts import RuntimeSpec
    from ao.session.gc import collect
    from ao.session.spawn import runtime_owner

    sid = new(ctx, project)
    ensure_watcher(ctx)
    ns, cwd = project.paths.hash, project.repo_path
    for name, owner in ((f"{ns}-stray", runtime_owner()), (f"{ns}-other", "/elsewhere")):
        fake.create(RuntimeSpec(name=name, argv=["sh"], cwd=cwd, owner=owner))
    actions = collect(ctx, [project])
    assert [(a.kind, a.target) for a in actions] == [("orphan-fake", f"{ns}-stray")]
    assert sorted(fake.panes) == sorted([f"{ns}-{sid}", f"{ns}-watch", f"{ns}-other"])


def test_gc_undoes_a_spawn_killed_before_it_recorded_the_handle(
    ctx: Context, project: Project, fake: FakeRuntime
) -> None:
    """The runtime names the handle (``Runtime.handle``) the record never got."""
    from ao.session.gc import collect
    from ao.store.state import Status, Step

    sid = new(ctx, project)
    project.store.update(
        sid, status=Status.SPAWNING, step=Step.WORKSPACE, spawner_pid=999999999,
        runtime_name=None, runtime_target=None,
    )  # fmt: skip
    actions = collect(ctx, [project])
    assert [(a.kind, a.target) for a in actions] == [("half-spawn", sid)]
    assert fake.panes == {} and fake.destroyed == [f"{project.paths.hash}-{sid}"]


def test_the_watchers_own_session_goes_through_the_runtime(ctx: Context, fake: FakeRuntime) -> None:
    from ao.lifecycle.watch import ensure_watcher

    state, name = ensure_watcher(ctx)
    assert state == "started" and name.endswith("-watch")
    assert fake.panes[name].spec.argv[1:] == ["-m", "ao", "watch"]
    assert ensure_watcher(ctx) == ("running", name)
    fake.exit(name, 1)
    first = fake.panes[name].target
    assert ensure_watcher(ctx) == ("started", name)
    assert fake.destroyed == [name] and fake.panes[name].target != first


def test_attach_asks_the_runtime(
    ctx: Context, project: Project, fake: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ao.session.ops import attach_argv

    sid = new(ctx, project)
    session = project.store.read(sid)
    name = fake.pane(sid).name
    # the terminal plugin (tmux by default) passes the runtime's command through
    assert attach_argv(ctx, session) == ["fake-attach", "--attach", name]
    assert attach_argv(ctx, session, inside=True) == ["fake-attach", "--switch", name]
    fake.vanish(sid)
    with pytest.raises(ConflictError, match=f"session {sid} has no fake session"):
        attach_argv(ctx, session)


def test_the_tmux_runtime_keeps_its_own_names() -> None:
    """What the core used to build, now the plugin's: exact targets, the socket, attach."""
    from ao_plugins.runtime_tmux import TmuxRuntime

    runtime = TmuxRuntime({"socket": "ao-x"})
    handle = runtime.handle("abc-d-1")
    assert (handle.runtime, handle.name, handle.target) == ("tmux", "abc-d-1", "=abc-d-1:")
    assert runtime.sandbox_env("ao-doctor-1") == {"AO_TMUX_SOCKET": "ao-doctor-1"}
    argv = runtime.attach_argv(handle)
    assert argv == ["tmux", "-L", "ao-x", "attach-session", "-t", "=abc-d-1"]
    assert runtime.attach_argv(handle, inside=True)[3] == "switch-client"
