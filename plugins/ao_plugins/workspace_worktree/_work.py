"""Work a commit cannot carry: ignored files made after setup, and nested repositories.

``git worktree remove --force`` deletes both without a word, and ``git add -A`` turns a
nested repository into a gitlink (its commits stay behind in its ``.git``) or fails on
one without commits. So both count as work, and a forced removal moves them aside first.

One ``git status --porcelain -z -unormal --ignored=matching`` gives every entry (an ignored or
untracked directory is one entry; git does not descend into ignored ones). Untracked
directories are then walked for nested repositories, which git shows only at the top.

What setup made is not work: the ignored entries present once setup finished are
recorded (size and mtime) in ``ao-setup.json`` in the worktree's own git dir, which goes
away with the worktree. Without that record (a worktree from an older ao), a ``copy``
file still matches its source (``copy2`` keeps the mtime), and a ``symlinks`` link
points at the same path in the repository.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from ao.sdk.errors import ConflictError

from ._git import git

# Names (globs) of a path component whose content tools regenerate: never work.
REGENERABLE = (
    "node_modules", "bower_components", ".pnpm-store", ".venv", "venv", "__pycache__",
    "*.pyc", "*.pyo", "*.egg-info", ".eggs", ".pytest_cache", ".mypy_cache", ".ruff_cache",
    ".hypothesis", ".tox", ".nox", ".coverage", ".coverage.*", "htmlcov", "coverage",
    "dist", "build", "target", ".next", ".nuxt", ".svelte-kit", ".angular", ".turbo",
    ".parcel-cache", ".cache", ".eslintcache", "*.tsbuildinfo", ".gradle", ".dart_tool",
    ".terraform", ".aider.tags.cache.*", ".DS_Store", "Thumbs.db",
)  # fmt: skip

BASELINE = "ao-setup.json"


@dataclasses.dataclass(frozen=True)
class Scan:
    """A checkout's entries, sorted by what losing them would mean."""

    dirty: tuple[str, ...]  # porcelain lines of changes a commit can carry
    ignored: tuple[str, ...]  # ignored entries made or changed after setup ("/" ends a dir)
    nested: tuple[str, ...]  # nested repositories
    own_links: tuple[str, ...]  # untracked symlinks made by `symlinks`: never committed


def _entries(path: Path) -> list[tuple[str, str]]:
    """``(XY, path)`` of every changed, untracked and ignored entry, in one git call."""
    # -unormal: a user's status.showUntrackedFiles=no must not hide untracked work
    out = git(path, "status", "--porcelain", "-z", "-unormal", "--ignored=matching").stdout
    fields = out.split("\0")
    entries: list[tuple[str, str]] = []
    i = 0
    while i < len(fields):
        field = fields[i]
        i += 1
        if len(field) < 4:
            continue
        code, rel = field[:2], field[3:]
        if "R" in code or "C" in code:
            i += 1  # -z puts a rename's source path in the next field
        entries.append((code, rel))
    return entries


def _is_repo(path: Path) -> bool:
    return os.path.lexists(path / ".git")


def _points_home(repo: Path, path: Path, rel: str) -> bool:
    """True for a symlink made by ``symlinks`` (it points at ``rel`` in the repository)."""
    target = path / rel.rstrip("/")
    with contextlib.suppress(OSError, ValueError):
        return target.is_symlink() and target.readlink() == repo.absolute() / rel.rstrip("/")
    return False


def _walk(path: Path, top: str, ignored: set[str], nested: list[str]) -> bool:
    """Add the nested repositories under the untracked directory ``top`` to ``nested``;
    True when it holds anything else a commit would carry."""
    other = False
    stack = [top]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(path / rel) as it:
                children = list(it)
        except OSError:
            other = True  # unreadable: assume it holds something
            continue
        for child in children:
            sub = f"{rel}/{child.name}"
            try:
                is_dir = child.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:
                other = other or sub not in ignored
            elif f"{sub}/" in ignored:
                continue
            elif _is_repo(Path(child.path)):
                nested.append(sub)
            else:
                stack.append(sub)
    return other


def regenerable(rel: str, globs: Sequence[str]) -> bool:
    """True when a component of ``rel`` names regenerable output (``node_modules``...)."""
    return any(
        fnmatch.fnmatchcase(part, glob) for part in rel.rstrip("/").split("/") for glob in globs
    )


def _admin_dir(path: Path) -> Path | None:
    """The worktree's own git dir (``.git/worktrees/<name>`` of its repository)."""
    dotgit = path / ".git"
    if dotgit.is_dir():
        return dotgit
    try:
        text = dotgit.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    gdir = Path(text.removeprefix("gitdir:").strip())
    return gdir if gdir.is_absolute() else path / gdir


def _stamp(st: os.stat_result) -> list[int]:
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    return [stat.S_IFMT(st.st_mode), size, st.st_mtime_ns]


def record_baseline(path: Path) -> None:
    """Record the ignored entries setup left in the worktree (kind, size, mtime).

    Best effort: without the record, setup output that is not a ``copy`` or ``symlinks``
    entry counts as work (the safe side).
    """
    admin = _admin_dir(path)
    if admin is None:
        return
    stamps: dict[str, list[int]] = {}
    for code, rel in _entries(path):
        if code == "!!":
            with contextlib.suppress(OSError):
                stamps[rel] = _stamp((path / rel.rstrip("/")).lstat())
    tmp = admin / f".{BASELINE}.tmp"
    tmp.write_text(json.dumps({"v": 1, "entries": stamps}), encoding="utf-8")
    os.replace(tmp, admin / BASELINE)


def _baseline(path: Path) -> dict[str, list[int]]:
    admin = _admin_dir(path)
    if admin is None:
        return {}
    try:
        doc = json.loads((admin / BASELINE).read_text(encoding="utf-8"))
        entries = doc["entries"]
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _made_by_setup(repo: Path, path: Path, rel: str, baseline: dict[str, list[int]]) -> bool:
    try:
        st = (path / rel.rstrip("/")).lstat()
    except OSError:
        return True  # gone since git listed it: nothing to keep
    if baseline.get(rel) == _stamp(st):
        return True
    if stat.S_ISLNK(st.st_mode):
        return _points_home(repo, path, rel)
    if stat.S_ISREG(st.st_mode):  # an unchanged `copy` file: copy2 kept the source's mtime
        with contextlib.suppress(OSError):
            src = (repo / rel).stat()
            return src.st_size == st.st_size and src.st_mtime_ns == st.st_mtime_ns
    return False


def scan(repo: Path, path: Path, globs: Sequence[str]) -> Scan:
    """Sort the checkout's entries: changes, ignored work, nested repos, own symlinks."""
    dirty: list[tuple[str, str]] = []
    ignored_all: list[str] = []
    own: list[str] = []
    for code, rel in _entries(path):
        if code == "!!":
            ignored_all.append(rel)
        elif code == "??" and _points_home(repo, path, rel):
            own.append(rel)
        else:
            dirty.append((code, rel))
    skip = set(ignored_all)
    nested: list[str] = []
    changes: list[str] = []
    for code, rel in dirty:
        if code == "??" and rel.endswith("/"):
            top = rel.rstrip("/")
            if _is_repo(path / top):
                nested.append(top)
                continue
            if not _walk(path, top, skip, nested):
                continue  # nothing in it but nested repos and ignored files
        changes.append(f"{code} {rel}")
    baseline = _baseline(path)
    ignored = [
        rel
        for rel in ignored_all
        if not regenerable(rel, globs) and not _made_by_setup(repo, path, rel, baseline)
    ]
    return Scan(tuple(changes), tuple(ignored), tuple(sorted(nested)), tuple(own))


def move_aside(path: Path, rels: Iterable[str], dest: Path) -> tuple[str, ...]:
    """Move each ``rel`` of ``path`` to ``dest/rel`` (a rename on one filesystem, else a
    copy then delete); ConflictError naming the first that could not be moved."""
    moved: list[str] = []
    for rel in (r.rstrip("/") for r in rels):
        src, dst = path / rel, dest / rel
        try:
            if not moved:
                dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                dest.mkdir(mode=0o700)
            dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.move(src, dst)
        except OSError as exc:
            done = f"; moved before it: {', '.join(moved)}" if moved else ""
            raise ConflictError(
                f"could not move {src} to {dst}: {exc.strerror or exc}{done}",
                hint="free space or fix permissions, then stop again",
            ) from None
        moved.append(rel)
    return tuple(moved)
