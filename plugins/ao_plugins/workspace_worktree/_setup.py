"""Post-create steps of a worktree: copy files, link shared paths, run setup commands."""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ao.sdk.errors import CommandError, CommandTimeout, UsageError
from ao.sdk.proc import run

from ._git import GIT_ENV, git


class StepFailed(Exception):
    """A post-create step failed; the message names the step and why."""


class SetupLog:
    """Appends post-create output to a log file, or discards it when there is none."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, text: str) -> None:
        """Append ``text`` (newline-terminated) to the log."""
        if self.path is None or not text:
            return
        if not text.endswith("\n"):
            text += "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise StepFailed(f"cannot write post-create log {self.path}: {exc}") from None

    def note(self, message: str) -> None:
        """Append one timestamped line."""
        self.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {message}")


def check_relative(value: str, what: str) -> PurePosixPath:
    """``value`` as a relative path that cannot leave its root, else UsageError."""
    rel = PurePosixPath(value)
    bad = not rel.parts or rel.is_absolute() or ".." in rel.parts or ".git" in rel.parts
    if not value or bad or "\x00" in value:
        raise UsageError(
            f"{what} entry {value!r} must be a relative path inside the repository",
            hint="use paths like '.env' or 'config/*.local', without '..' or '.git'",
        )
    return rel


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def copy_globs(
    repo: Path, dest: Path, patterns: Sequence[str], skip: Sequence[Path], log: SetupLog
) -> None:
    """Copy files of ``repo`` matching ``patterns`` to the same place under ``dest``.

    Patterns are globs relative to the repository (``**`` reaches subdirectories).
    Files the worktree already has are never overwritten; modes are kept. Matches in
    ``.git`` or inside ``skip`` (other worktrees nested in the repo) are ignored.
    """
    real_dest = dest.resolve()
    real_skip = [p.resolve() for p in skip]
    for pattern in patterns:
        check_relative(pattern, "copy")
        for src in sorted(repo.glob(pattern)):
            rel = src.relative_to(repo)
            if ".git" in rel.parts or not src.is_file():
                continue
            real_src = src.resolve()
            if any(_inside(real_src, s) for s in real_skip):
                continue
            target = dest / rel
            if target.exists() or target.is_symlink():
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                # A tracked symlinked directory could point the copy outside the worktree.
                if not _inside(target.parent.resolve(), real_dest):
                    log.note(f"copy: skipped {rel} (destination leaves the worktree)")
                    continue
                shutil.copy2(src, target)
            except OSError as exc:
                raise StepFailed(f"copying {rel} into the worktree failed: {exc}") from None
            log.note(f"copy: {rel}")


def _tracked_modified(dest: Path, rel: str) -> bool:
    out = git(dest, "--literal-pathspecs", "status", "--porcelain", "--", rel).stdout
    return any(line[:2] not in ("??", "!!") for line in out.splitlines() if line)


def _hide_tracked(dest: Path, rel: str) -> None:
    """Mark tracked files under ``rel`` skip-worktree so the symlink replacing them is
    neither reported as a change nor committed by an agent's ``git add -A``."""
    files = git(dest, "--literal-pathspecs", "ls-files", "-z", "--", rel).stdout
    if files:
        run(
            ["git", "update-index", "--skip-worktree", "-z", "--stdin"],
            cwd=dest,
            input=files,
            env=GIT_ENV,
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def link_paths(repo: Path, dest: Path, paths: Sequence[str], log: SetupLog) -> None:
    """Make ``dest/<p>`` a symlink to ``repo/<p>`` for each ``p`` in ``paths``.

    Missing sources are skipped. Whatever the worktree has at ``<p>`` is replaced,
    unless it holds tracked modifications.
    """
    repo_abs = repo.absolute()
    for value in paths:
        rel = str(check_relative(value, "symlinks"))
        src = repo_abs / rel
        target = dest / rel
        if not (src.exists() or src.is_symlink()):
            log.note(f"symlink: skipped {rel} (missing in the repository)")
            continue
        try:
            if target.is_symlink() and target.readlink() == src:
                continue
            if target.exists() or target.is_symlink():
                if _tracked_modified(dest, rel):
                    log.note(f"symlink: skipped {rel} (tracked and modified in the worktree)")
                    continue
                _remove(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(src)
            _hide_tracked(dest, rel)
        except (OSError, CommandError) as exc:
            raise StepFailed(f"linking {rel} into the worktree failed: {exc}") from None
        log.note(f"symlink: {rel} -> {src}")


def run_commands(
    dest: Path, commands: Sequence[tuple[Sequence[str], float]], log: SetupLog
) -> None:
    """Run each argv in ``dest`` within its own timeout (never through a shell), logging."""
    for argv, timeout in commands:
        if not argv:
            raise StepFailed("a post-create command is empty")
        shown = shlex.join(argv)
        log.note(f"$ {shown}  (cwd {dest})")
        started = time.monotonic()
        try:
            res = run(argv, cwd=dest, timeout=timeout, check=False, env=GIT_ENV)
        except CommandTimeout:
            log.note(f"timed out after {timeout:g}s")
            raise StepFailed(
                f"post-create command `{shown}` timed out after {timeout:g}s"
            ) from None
        except CommandError as exc:
            log.note(f"could not start: {exc.message}")
            raise StepFailed(
                f"post-create command `{shown}` could not start: {exc.message}"
            ) from None
        log.write(res.stdout)
        log.write(res.stderr)
        log.note(f"exit {res.returncode} after {time.monotonic() - started:.1f}s")
        if res.returncode != 0:
            errs = [line for line in res.stderr.splitlines() if line.strip()]
            tail = f": {errs[-1].strip()}" if errs else ""
            raise StepFailed(f"post-create command `{shown}` failed (exit {res.returncode}){tail}")
