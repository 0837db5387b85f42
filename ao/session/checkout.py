"""A project's checkout, made from its ``url`` the first time ao needs it.

A project may name where its repository comes from (``url``) besides where it lives
(``path``): on a machine with no checkout yet, the first command that needs one (``ao
new``, a task, ``ao fix``) clones it there. The clone is made beside ``path`` under a
temporary name and renamed into place, under a lock in ao's home: a concurrent command
waits for it and finds it made, and a clone cut short never leaves a half checkout at
``path``.
"""

from __future__ import annotations

import hashlib
import shutil
import typing as t

from ao.sdk import proc
from ao.sdk.errors import CommandError, ConflictError
from ao.sdk.home import ao_home, private_dir
from ao.sdk.redact import redact
from ao.store.locks import locked

if t.TYPE_CHECKING:
    from ao.session.context import Project

CLONE_TIMEOUT = 1800.0  # a large repository over a slow link


def ensure_checkout(project: Project) -> bool:
    """Clone the project's ``url`` into its ``path`` when it has no checkout there yet;
    True when a clone was made. Nothing happens for a project with a checkout or no url."""
    path, url = project.repo_path, project.config.url
    if url is None or (path / ".git").exists():
        return False
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConflictError(
            f"project {project.id!r}: {path} is not a git repository and not empty, so its "
            f"url cannot be cloned there",
            hint="move what is there away, or point `path` at the checkout",
        )
    key = hashlib.sha1(str(path).encode()).hexdigest()[:16]
    lock = private_dir(ao_home() / "run") / f"clone-{key}.lock"
    with locked(lock, timeout=CLONE_TIMEOUT):
        if (path / ".git").exists():
            return False  # another command made it while this one waited
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.ao-clone")
        shutil.rmtree(scratch, ignore_errors=True)  # a clone cut short (only ao names it so)
        try:
            proc.run(["git", "clone", "-q", "--", url, str(scratch)],
                     timeout=CLONE_TIMEOUT, env={"GIT_TERMINAL_PROMPT": "0"})  # fmt: skip
        except CommandError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise CommandError(
                f"project {project.id!r}: could not clone {redact(url)} into {path}: "
                f"{redact(exc.message)}",
                hint="check the project's `url` and your access to it",
            ) from None
        if path.exists():
            path.rmdir()  # the empty directory it was checked to be
        scratch.rename(path)
    return True
