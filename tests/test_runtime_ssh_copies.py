"""The ssh runtime's session copies: hosts with a ``workdir`` do not share ao's filesystem.

Real OpenSSH servers on loopback (tests/sshkit.py), real git with a bare ``origin``.
Each host's copies live in their own directory, never at the worktree's path, so every
file the tests find here came back through the copy's bring-back (git over the host's
SSH connection), and every file found there went out through it. A task verified on a
copy is in tests/test_runtimes_e2e.py's companion below (through the ``ao`` CLI).
"""

from __future__ import annotations

import json
import os
import sys
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from ao_plugins.runtime_ssh import SshRuntime, copies

from ao.sdk.contracts import Copying, RuntimeSpec
from ao.sdk.errors import ConfigError, ConflictError
from tests import sshkit
from tests.conftest import git
from tests.sessionkit import Project, wait_for
from tests.test_tasks import FIXED, setup_worker


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sshkit.SshHost]:
    monkeypatch.setenv("AO_TMUX_SOCKET", f"aocp-{os.getpid()}-{tmp_path.name[-10:]}")
    (started,) = sshkit.start_hosts(tmp_path / "hosts", 1)
    yield started
    SshRuntime({"hosts": {"h1": started.options()}}).end_sandbox(os.environ["AO_TMUX_SOCKET"])
    sshkit.stop_hosts([started])


def runtime(host: sshkit.SshHost, workdir: Path) -> SshRuntime:
    return SshRuntime({"hosts": {"h1": {**host.options(), "workdir": str(workdir)}}})


def worktree_of(repo: Path, branch: str) -> Path:
    tree = repo.parent / f"wt-{branch}"
    git(repo, "worktree", "add", "-q", "-b", branch, str(tree), "main")
    return tree


def test_workdir_must_be_absolute() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.ssh\.hosts\.h1\.workdir"):
        SshRuntime({"hosts": {"h1": {"target": "x", "workdir": "copies"}}})


def test_a_copy_starts_from_the_worktree_and_its_work_comes_back(
    host: sshkit.SshHost, git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / ".gitignore").write_text("build/\n")
    (git_repo / "gone.txt").write_text("to be deleted\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "more")
    tree = worktree_of(git_repo, "ao/c-1")
    (tree / "README.md").write_text("# changed here, not committed\n")
    (tree / "new.txt").write_text("untracked\n")
    (tree / "build").mkdir()
    (tree / "build" / "big.o").write_text("ignored: stays here\n")
    state = tmp_path / "state" / "c-1"
    state.mkdir(parents=True)
    (state / "config.toml").write_text(f"log = '{state}/log'\n")
    workdir = tmp_path / "far" / "copies"
    rt = runtime(host, workdir)
    assert isinstance(rt, Copying)
    agent = (
        'pwd > seen.txt; echo "$AGENT_HOME" >> seen.txt; cat "$AGENT_HOME/config.toml" '
        '>> seen.txt; test -e build && echo "ignored came" >> seen.txt; '
        "git add README.md && git commit -q -m 'agent: readme' && git rm -q gone.txt && "
        "echo 'not committed' > wip.txt && git push -q origin HEAD && echo PUSHED >> seen.txt; "
        "exec sleep 60"
    )
    handle = rt.create(RuntimeSpec(
        name="c-1", argv=["sh", "-c", agent], cwd=tree, owner="tester",
        env={"AGENT_HOME": str(state)}, own_env=frozenset({"AGENT_HOME"}), paths=(state,),
    ))  # fmt: skip
    copy = workdir / "c-1"
    seen = copy / "seen.txt"
    wait_for(lambda: seen.exists() and "PUSHED" in seen.read_text(), timeout=30, what="agent")
    assert seen.read_text().splitlines() == [
        str(copy), f"{copy}.state{state}", f"log = '{copy}.state{state}/log'", "PUSHED",
    ]  # fmt: skip
    assert (copy / "new.txt").read_text() == "untracked\n"
    # the worktree here is untouched while the agent works on the copy
    assert not (tree / "seen.txt").exists() and (tree / "gone.txt").exists()
    # the agent's push went to the project's origin, as it would from here
    host_head = git(copy, "rev-parse", "HEAD").strip()
    assert git(git_repo.parent / "origin.git", "rev-parse", "ao/c-1").strip() == host_head

    assert rt.sync_copy(handle) is True
    assert git(tree, "rev-parse", "HEAD").strip() == host_head
    assert git(tree, "log", "-1", "--format=%s").strip() == "agent: readme"
    assert (tree / "README.md").read_text() == "# changed here, not committed\n"
    assert (tree / "wip.txt").read_text() == "not committed\n"
    assert not (tree / "gone.txt").exists()
    assert (tree / "build" / "big.o").exists()  # ignored files here are left alone
    status = git(tree, "status", "--porcelain").splitlines()
    assert sorted(line[3:] for line in status) == ["gone.txt", "new.txt", "seen.txt", "wip.txt"]

    rt.destroy(handle, grace=0.2)
    assert not copy.exists() and not Path(f"{copy}.state").exists()
    assert copies.load() == {}
    assert git(git_repo, "for-each-ref", "refs/ao/").strip() == ""
    assert (tree / "wip.txt").exists()  # the work stays in the worktree


def test_a_branch_that_moved_on_both_sides_is_refused_and_both_are_kept(
    host: sshkit.SshHost, git_repo: Path, tmp_path: Path
) -> None:
    tree = worktree_of(git_repo, "ao/c-2")
    workdir = tmp_path / "far"
    rt = runtime(host, workdir)
    agent = "echo there > there.txt; git add there.txt; git commit -q -m there; exec sleep 60"
    handle = rt.create(RuntimeSpec(name="c-2", argv=["sh", "-c", agent], cwd=tree, owner="t"))
    copy = workdir / "c-2"
    wait_for(lambda: git(copy, "log", "-1", "--format=%s").strip() == "there", timeout=30,
             what="the agent's commit")  # fmt: skip
    (tree / "here.txt").write_text("here\n")
    git(tree, "add", "here.txt")
    git(tree, "commit", "-q", "-m", "here")
    here = git(tree, "rev-parse", "HEAD").strip()
    with pytest.raises(ConflictError, match="moved both here") as info:
        rt.sync_copy(handle)
    assert "refs/ao/host/c-2/head" in (info.value.hint or "")
    assert git(tree, "rev-parse", "HEAD").strip() == here  # nothing changed here
    kept = git(git_repo, "rev-parse", "refs/ao/host/c-2/head").strip()
    assert kept == git(copy, "rev-parse", "HEAD").strip()
    with pytest.raises(ConflictError):
        rt.destroy(handle, grace=0.2)
    assert copy.is_dir()  # the copy is not removed while its work is not here

    git(tree, "merge", "-q", "--no-edit", "refs/ao/host/c-2/head")
    rt.destroy(handle, grace=0.2)
    assert not copy.exists()
    assert (tree / "there.txt").read_text() == "there\n"


def test_commits_made_here_go_to_the_copy_and_the_agent_builds_on_them(
    host: sshkit.SshHost, git_repo: Path, tmp_path: Path
) -> None:
    """What ``ao finalize`` does: sync, commit what the agent left, sync again. The
    copy's branch moves to that commit with its files untouched, so the agent's next
    commit comes back as a fast-forward, never as a conflict."""
    tree = worktree_of(git_repo, "ao/c-3")
    workdir = tmp_path / "far"
    rt = runtime(host, workdir)
    agent = "echo one > one.txt; exec sleep 60"
    handle = rt.create(RuntimeSpec(name="c-3", argv=["sh", "-c", agent], cwd=tree, owner="t"))
    copy = workdir / "c-3"
    wait_for((copy / "one.txt").exists, timeout=30, what="the agent's file")
    assert rt.sync_copy(handle)
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "ao: what the agent left")
    here = git(tree, "rev-parse", "HEAD").strip()
    assert rt.sync_copy(handle)
    assert git(copy, "rev-parse", "HEAD").strip() == here
    assert git(copy, "status", "--porcelain") == ""  # its files as they were: all committed
    (copy / "two.txt").write_text("two\n")  # the agent goes on, on top of ao's commit
    git(copy, "add", "two.txt")
    git(copy, "commit", "-q", "-m", "agent: two")
    assert rt.sync_copy(handle)
    assert git(tree, "log", "--format=%s", "-2").split("\n")[:2] == [
        "agent: two", "ao: what the agent left",
    ]  # fmt: skip
    assert (tree / "two.txt").read_text() == "two\n"
    rt.destroy(handle, grace=0.2)
    assert not copy.exists()


def test_a_password_in_origins_url_never_reaches_the_host(
    host: sshkit.SshHost, git_repo: Path, tmp_path: Path
) -> None:
    git(git_repo, "remote", "set-url", "origin", "https://me:s3cretpass9@example.invalid/x.git")
    tree = worktree_of(git_repo, "ao/c-4")
    workdir = tmp_path / "far"
    rt = runtime(host, workdir)
    handle = rt.create(RuntimeSpec(name="c-4", argv=["sleep", "60"], cwd=tree, owner="t"))
    copy = workdir / "c-4"
    assert git(copy, "remote", "get-url", "origin").strip() == "https://me@example.invalid/x.git"
    assert "s3cretpass9" not in (copy / ".git" / "config").read_text()
    rt.destroy(handle, grace=0.2)


def test_a_task_on_a_copy_is_verified_on_the_agents_work(
    proj: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_TMUX_SOCKET", proj.server.socket_name)
    (started,) = sshkit.start_hosts(tmp_path / "hosts", 1)
    workdir = tmp_path / "far"
    try:
        options = {**started.options(), "workdir": str(workdir)}
        setup_worker(proj, {"FIX-ADD": [{"write": {"calc.py": FIXED}}]},
                     runtime="ssh", top={"plugins": {"ssh": {"hosts": {"h1": options}}}})  # fmt: skip
        r = proj.ao("task", "create", "FIX-ADD", "--verify",
                    f"{sys.executable} -m pytest -q -p no:cacheprovider", "--json")  # fmt: skip
        assert r.returncode == 0, r.stderr
        session = json.loads(r.stdout)["data"]["session"]
        r = proj.ao("task", "wait", "task-1", "--timeout", "90", "--json", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["data"]["state"] == "completed"
        worktree = Path(t.cast(dict[str, str], proj.ao_json("status", session))["worktree"])
        assert (worktree / "calc.py").read_text() == FIXED  # brought back, then verified
        (copy,) = [d for d in workdir.iterdir() if not d.name.endswith(".state")]
        assert (copy / "calc.py").read_text() == FIXED
        r = proj.ao("stop", session)
        assert r.returncode == 0, r.stderr
        assert not copy.exists()
        assert (worktree / "calc.py").read_text() == FIXED
    finally:
        SshRuntime({"hosts": {"h1": started.options()}}).end_sandbox(proj.server.socket_name)
        sshkit.stop_hosts([started])


def test_doctor_checks_git_and_the_workdir_on_the_host(
    host: sshkit.SshHost, tmp_path: Path
) -> None:
    (good,) = [c for c in runtime(host, tmp_path / "far").host_checks() if c.name == "host h1"]
    assert good.ok and "git version" in good.detail, good
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (bad,) = [c for c in runtime(host, blocker / "sub").host_checks() if c.name == "host h1"]
    assert not bad.ok and f"workdir {blocker / 'sub'} is not writable" in bad.detail, bad
