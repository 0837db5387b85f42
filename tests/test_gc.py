"""`ao gc` against real tmux and git: what it must reap, and what it must never touch."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux


def _namespace() -> Path:
    return next(Path(os.environ["AO_HOME"]).glob("*-demo"))


def test_gc_keeps_the_worktree_of_a_spawn_in_progress(proj: Project) -> None:
    """A spawn still running post-create owns its worktree before it records `worktree=`."""
    proj.configure(postCreate=[["sleep", "30"]])
    p = proj.popen("new", "true")
    try:
        home = Path(os.environ["AO_HOME"])
        wait_for(lambda: any(home.glob("*-demo/logs/d-1.post-create.log")), what="post-create")
        worktree = _namespace() / "worktrees" / "d-1"
        assert worktree.is_dir()
        assert proj.ao_json("gc") == []
        assert worktree.is_dir()
        (session,) = proj.ao_json("list")  # type: ignore[misc]
        assert session["status"] == "spawning"
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_gc_reaps_any_orphan_in_the_namespace_but_not_the_watcher(proj: Project) -> None:
    """Custom-named orphans this AO_HOME started go; live sessions, the watcher, other
    configs' sessions and sessions ao did not provably start stay."""
    assert proj.ao("new", "true", "--name", "fix").returncode == 0
    hash_ = _namespace().name.split("-")[0]
    owner = str(Path(os.environ["AO_HOME"]).resolve())
    for name in (f"{hash_}-custom", f"{hash_}-watch", "0123456789ab-x", "mine", f"{hash_}-bare"):
        proj.server.new_session(session_name=name, attach=False)
        if name != f"{hash_}-bare":  # a session of older ao, or made by hand: no owner tag
            proj.server.cmd("set-option", "-t", f"={name}:", "@ao_owner", owner)

    dry = proj.ao_json("gc", "--dry-run")
    assert [(a["kind"], a["target"]) for a in dry] == [("orphan-tmux", f"{hash_}-custom")]  # type: ignore[index]
    assert f"{hash_}-custom" in proj.tmux_names()

    done = proj.ao_json("gc")
    assert [(a["target"], a["done"]) for a in done] == [(f"{hash_}-custom", True)]  # type: ignore[index]
    names = proj.tmux_names()
    assert f"{hash_}-custom" not in names
    assert {f"{hash_}-fix", f"{hash_}-watch", "0123456789ab-x", "mine", f"{hash_}-bare"} <= set(
        names
    )
    assert proj.ao_json("list")[0]["status"] in ("working", "ready")  # type: ignore[index]


def test_gc_under_another_ao_home_never_touches_these_sessions(
    proj: Project, tmp_path: Path
) -> None:
    """Same config, same tmux server, another state root: its gc sees only orphans it made."""
    assert proj.ao("new", "sleep 300", "--agent", "shell").returncode == 0
    (session,) = proj.ao_json("list")  # type: ignore[misc]
    other = tmp_path / "other-home"
    other.mkdir()
    r = proj.ao("gc", "--json", env={"AO_HOME": str(other)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"] == []
    assert session["tmux"] in proj.tmux_names()
    (again,) = proj.ao_json("list")  # type: ignore[misc]
    assert again["status"] in ("working", "ready")


def test_gc_prunes_forge_cache_entries_unused_for_a_month(proj: Project) -> None:
    """ETags and snapshots of PRs long gone are deleted; recently used entries stay."""
    from ao.sdk.httpcache import DiskCache, cache_root

    cache = DiskCache(cache_root("github", "https://api.github.com"), "etags")
    cache.put("old", {"etag": "a"})
    cache.put("fresh", {"etag": "b"})
    old = cache._file("old")
    month_ago = old.stat().st_mtime - 31 * 86400
    os.utime(old, (month_ago, month_ago))

    dry = proj.ao_json("gc", "--dry-run")
    assert [(a["kind"], a["done"]) for a in dry] == [("stale-cache", False)]  # type: ignore[index]
    assert old.exists()
    done = proj.ao_json("gc")
    assert [(a["kind"], a["done"]) for a in done] == [("stale-cache", True)]  # type: ignore[index]
    assert cache.get("old") is None and cache.get("fresh") == {"etag": "b"}
    assert proj.ao_json("gc") == []
