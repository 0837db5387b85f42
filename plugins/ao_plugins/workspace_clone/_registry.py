"""Which clones the ``clone`` workspace made for a repository.

``git worktree`` registers each worktree in the repository's git dir; a clone has no such
record, so the plugin keeps its own: one small file per clone under
``<common git dir>/ao-clones/``, holding the clone's absolute path. One file per clone,
written atomically, so parallel spawns never contend for a shared list. Each clone also
names its repository in its own config (``ao.cloneOf``): a path listed here that now holds
something else is never taken for a clone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from ao.sdk.errors import AoError
from ao_plugins.workspace_worktree._git import git, is_checkout, same_path

DIR = "ao-clones"
MARK = "ao.cloneOf"


def common_dir(repo: Path) -> Path:
    """The repository's common git dir (its ``.git``, also from a linked worktree)."""
    out = git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout
    return Path(out.strip())


def _entry(repo: Path, path: Path) -> Path:
    key = hashlib.sha256(str(path).encode()).hexdigest()[:20]
    return common_dir(repo) / DIR / key


def register(repo: Path, path: Path) -> None:
    """Record ``path`` (absolute) as a clone of ``repo``; before the clone exists, so a
    crash half-way still leaves a record that names it."""
    entry = _entry(repo, path)
    entry.parent.mkdir(exist_ok=True)
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{path}\n", encoding="utf-8")
    os.replace(tmp, entry)


def unregister(repo: Path, path: Path) -> None:
    """Forget ``path``; nothing happens when it was not recorded or ``repo`` is gone."""
    with contextlib.suppress(OSError, AoError):
        _entry(repo, path).unlink(missing_ok=True)


def recorded(repo: Path) -> list[Path]:
    """Every recorded path, whether or not a clone is there now."""
    folder = common_dir(repo) / DIR
    paths: list[Path] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = entry.read_text(encoding="utf-8").strip()
                if text:
                    paths.append(Path(text))
    return paths


def prune(repo: Path) -> None:
    """Forget recorded clones whose directory is gone (``git worktree prune``'s twin)."""
    for path in recorded(repo):
        if not (path.exists() or path.is_symlink()):
            unregister(repo, path)


def mark(path: Path, repo: Path) -> None:
    """Name ``repo`` in the clone's own config."""
    git(path, "config", MARK, str(repo.absolute()))


def is_clone_of(path: Path, repo: Path) -> bool:
    """True when ``path`` is a checkout whose config names ``repo`` as its source."""
    if not is_checkout(path) or not (path / ".git").is_dir():
        return False
    res = git(path, "config", "--local", "--get", MARK, check=False)
    return res.returncode == 0 and same_path(Path(res.stdout.strip()), repo)
