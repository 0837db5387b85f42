"""Finding, loading and choosing from ``agent-orchestrator.yaml``.

Importing this package is cheap: pydantic and yaml are imported only when a config is
loaded, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import difflib
import os
import typing as t
from pathlib import Path

from ao.config import snapshot
from ao.config.base import Expansion, InvalidConfigError, LoadedConfig, expand_string
from ao.sdk.errors import NotFoundError, UsageError
from ao.sdk.home import ao_home

if t.TYPE_CHECKING:
    from ao.config.models import AoConfig, ProjectConfig

__all__ = [
    "CONFIG_NAMES",
    "Expansion",
    "InvalidConfigError",
    "LoadedConfig",
    "expand_string",
    "find_config_path",
    "load_config",
    "require_project",
]

CONFIG_NAMES = ("agent-orchestrator.yaml", "agent-orchestrator.yml")


def find_config_path(cwd: Path | None = None) -> Path | None:
    """The config to use: ``$AO_CONFIG``, else the nearest one above ``cwd``, else the global one.

    Raises ConfigError when ``$AO_CONFIG`` names a file that does not exist.
    """
    start = Path(cwd) if cwd is not None else Path.cwd()
    env = os.environ.get("AO_CONFIG")
    if env:
        chosen = Path(env).expanduser()
        if not chosen.is_absolute():
            chosen = start / chosen
        if chosen.is_dir():
            for name in CONFIG_NAMES:
                if (chosen / name).is_file():
                    return (chosen / name).resolve()
        if chosen.is_file():
            return chosen.resolve()
        raise InvalidConfigError(
            [f"AO_CONFIG points to {chosen}, which does not exist"],
            hint="fix or unset AO_CONFIG (or --config)",
        )
    for directory in (start.resolve(), *start.resolve().parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    global_config = ao_home() / "config.yaml"
    if global_config.is_file():
        return global_config.resolve()
    return None


def load_config(
    path: Path | None = None, *, cwd: Path | None = None, cached: bool = False
) -> LoadedConfig:
    """Load and validate ``path``, or the config ``find_config_path(cwd)`` finds.

    With ``cached``, a config unchanged since its last validation is read from the
    snapshot cache (``ao.config.snapshot``): same attributes, read-only, no ``raw``.
    Raises InvalidConfigError (a ConfigError, exit 3) with every problem found.
    """

    if path is None:
        path = find_config_path(cwd)
        if path is None:
            where = Path(cwd) if cwd is not None else Path.cwd()
            raise InvalidConfigError(
                [f"no agent-orchestrator.yaml found in {where} or its parents"],
                hint="run `ao start` inside a git repository to create one, or set AO_CONFIG",
            )
    path = Path(path).expanduser().absolute().resolve()
    if cached:
        view = snapshot.load(path)
        if view is not None:
            return LoadedConfig(path=path, model=t.cast("AoConfig", view), raw={})
    from ao.config.loader import load_file  # lazy: pydantic and yaml load only to validate a config

    loaded = load_file(path)
    if cached:
        snapshot.save(path, loaded.model.model_dump(), loaded.raw)
    return loaded


def require_project(loaded: LoadedConfig, name: str | None, cwd: Path) -> tuple[str, ProjectConfig]:
    """The project a command acts on: ``name``, else the only one, else the one around ``cwd``."""
    projects = loaded.model.projects
    known = ", ".join(sorted(projects)) or "none"
    if name is not None:
        if name in projects:
            return name, projects[name]
        close = difflib.get_close_matches(name, list(projects), n=1)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise NotFoundError(
            f"no project {name!r} in {loaded.path}{guess}", hint=f"known projects: {known}"
        )
    if not projects:
        raise NotFoundError(
            f"no projects in {loaded.path}",
            hint="run `ao start` inside a git repository, or add one under `projects:`",
        )
    if len(projects) == 1:
        return next(iter(projects.items()))
    here = Path(cwd).resolve()
    around = [
        (len(proj.path.parts), pid, proj)
        for pid, proj in projects.items()
        if here == proj.path or proj.path in here.parents
    ]
    if around:
        # nested projects: the innermost one wins; equal paths (a monorepo) stay ambiguous
        depth = max(item[0] for item in around)
        innermost = [(pid, proj) for d, pid, proj in around if d == depth]
        if len(innermost) == 1:
            return innermost[0]
        known = ", ".join(sorted(pid for pid, _ in innermost))
    raise UsageError(f"several projects; pass --project ({known})")
