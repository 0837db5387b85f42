"""Projects: ``ao start`` / ``add-project`` / ``remove-project`` over the config file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ao.config import CONFIG_NAMES, find_config_path, load_config
from ao.config.names import default_prefix
from ao.sdk import proc
from ao.sdk.errors import CommandError, ConflictError, UsageError
from ao.session.context import Context
from ao.store.locks import atomic_write
from ao.store.paths import ProjectPaths

URL_RE = re.compile(r"^(?:(?:https?|ssh|git|file)://|[\w.-]+@[\w.-]+:)")
SLUG_RE = re.compile(r"(?:github\.com|gitlab\.com)[:/]([^/]+/[^/]+?)(?:\.git)?/?$")
GIT_TIMEOUT = 30.0


def is_url(target: str) -> bool:
    """Whether ``target`` names a remote repository rather than a local path."""
    return bool(URL_RE.match(target))


@dataclasses.dataclass(frozen=True)
class RepoFacts:
    """What ao learns about a repository to configure it."""

    root: Path
    origin: str | None
    slug: str | None  # owner/name on GitHub or GitLab
    default_branch: str


def _git(cwd: Path, *args: str, check: bool = True) -> proc.Result:
    return proc.run(
        ["git", *args], cwd=cwd, timeout=GIT_TIMEOUT, check=check, env={"GIT_TERMINAL_PROMPT": "0"}
    )


def inspect_repo(path: Path) -> RepoFacts:
    """Root, origin, forge slug and default branch of the repository at ``path``."""
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    top = _git(path, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise UsageError(
            f"{path} is not inside a git repository",
            hint="run `git init` there, or pass a repo path or URL",
        )
    root = Path(top.stdout.strip()).resolve()
    origin_r = _git(root, "remote", "get-url", "origin", check=False)
    origin = origin_r.stdout.strip() if origin_r.returncode == 0 else None
    slug = None
    if origin:
        m = SLUG_RE.search(origin)
        slug = m.group(1) if m else None
    head = _git(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD", check=False)
    if head.returncode == 0 and head.stdout.strip().startswith("origin/"):
        branch = head.stdout.strip().removeprefix("origin/")
    else:
        current = _git(root, "symbolic-ref", "--short", "HEAD", check=False)
        branch = current.stdout.strip() if current.returncode == 0 else "main"
    return RepoFacts(root, origin, slug, branch or "main")


def clone(url: str, parent: Path) -> Path:
    """Full clone of ``url`` into ``parent/<name>``, or reuse a clone of the same URL there."""
    name = re.sub(r"\.git$", "", url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]) or "repo"
    dest = parent / name
    if dest.exists():
        facts = inspect_repo(dest)
        if facts.origin != url:
            raise ConflictError(
                f"{dest} exists and is not a clone of {url} (origin: {facts.origin})",
                hint="run from another directory or remove it",
            )
        return dest
    try:
        proc.run(
            ["git", "clone", "--", url, str(dest)],
            cwd=parent,
            timeout=600,
            env={"GIT_TERMINAL_PROMPT": "0"},
        )
    except CommandError as exc:
        raise CommandError(
            f"could not clone {url}: {exc.message}", hint="check the URL and your access"
        ) from None
    return dest


def project_id_for(root: Path) -> str:
    """A valid project id from a directory name."""
    pid = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name).strip("-_") or "project"
    return pid[:64]


def exclude_from_git(root: Path, filename: str) -> None:
    """Keep a file ao writes into a repo out of `git status` (via .git/info/exclude)."""
    common = _git(root, "rev-parse", "--git-common-dir").stdout.strip()
    exclude = (root / common / "info" / "exclude").resolve()
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text(encoding="utf-8").splitlines() if exclude.exists() else []
    if f"/{filename}" not in lines:
        with exclude.open("a", encoding="utf-8") as fh:
            fh.write(f"/{filename}\n")


@dataclasses.dataclass(frozen=True)
class StartResult:
    """What ``ao start`` found or created."""

    config_path: Path
    project_id: str
    created_config: bool
    added_project: bool
    cloned: bool
    agent: str


def start(
    target: str | None, cwd: Path, *, name: str | None = None, config_path: Path | None = None
) -> StartResult:
    """Make ``target`` (a path, URL, or the cwd) a configured project; idempotent.

    The project goes into ``config_path`` when given (``add-project``), else into the
    config at or above the repository, else into a new config at the repository's root.
    """
    from ao.config.edit import (  # lazy: pydantic and yaml load only to edit a config
        add_project,
        new_config_text,
    )

    cloned = False
    if target and is_url(target):
        path = clone(target, cwd)
        cloned = True
    else:
        path = (cwd / target).resolve() if target else cwd.resolve()
    facts = inspect_repo(path)
    config_path = config_path or find_config_path(cwd=facts.root)
    fields: dict[str, object] = {"path": str(facts.root), "defaultBranch": facts.default_branch}
    if facts.slug:
        fields["repo"] = facts.slug
    created = added = False
    if config_path is None:
        config_path = facts.root / CONFIG_NAMES[0]
        pid = name or project_id_for(facts.root)
        fields["path"] = "."
        fields["sessionPrefix"] = default_prefix(pid)
        atomic_write(config_path, new_config_text({pid: fields}))
        exclude_from_git(facts.root, CONFIG_NAMES[0])
        created = added = True
    else:
        loaded = load_config(config_path)
        existing = [
            p for p, c in loaded.model.projects.items() if Path(c.path).resolve() == facts.root
        ]
        if existing:
            pid = existing[0]
        else:
            pid = name or project_id_for(facts.root)
            if pid in loaded.model.projects:
                pid = _unique(pid, set(loaded.model.projects))
            taken = {
                c.session_prefix or default_prefix(p) for p, c in loaded.model.projects.items()
            }
            fields["sessionPrefix"] = _unique_prefix(default_prefix(pid), taken)
            add_project(config_path, pid, fields)
            added = True
    ctx = Context.load(cwd=facts.root) if created else Context(load_config(config_path))
    ProjectPaths(ctx.loaded.path, pid).ensure()
    agent = ctx.agent_name(ctx.project(pid))
    return StartResult(ctx.loaded.path, pid, created, added, cloned, agent)


def _unique_prefix(prefix: str, taken: set[str]) -> str:
    n = 2
    candidate = prefix
    while candidate in taken:
        candidate = f"{prefix}{n}"
        n += 1
    return candidate


def _unique(pid: str, taken: set[str]) -> str:
    n = 2
    while f"{pid}-{n}" in taken:
        n += 1
    return f"{pid}-{n}"


def remove_project(config_path: Path, project_id: str, *, live_sessions: int, force: bool) -> None:
    """Drop a project from the config; its state directory stays (nothing is deleted)."""
    # lazy: pydantic and yaml load only to edit a config
    from ao.config.edit import (
        remove_project as remove,  # lazy: pydantic and yaml load only to edit a config
    )

    if live_sessions and not force:
        raise ConflictError(
            f"project {project_id!r} has {live_sessions} live session(s)",
            hint=f"`ao stop --project {project_id} --all` first, "
            "or pass --force to leave them running unmanaged",
        )
    remove(config_path, project_id)
