"""Finding, loading and choosing from ``agent-orchestrator.yaml``.

Importing this package is cheap: pydantic and yaml are imported only when a config is
loaded, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import difflib
import os
import re
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ao.errors import ConfigError, NotFoundError, UsageError
from ao.paths import ao_home

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
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF_RE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\}?)")


class InvalidConfigError(ConfigError):
    """A config that failed to load; ``problems`` holds one ``file:line: key: message`` each."""

    def __init__(self, problems: list[str], *, hint: str | None = None) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more, hint=hint)
        self.problems = list(problems)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config: its absolute path, the model, and the YAML as written."""

    path: Path
    model: AoConfig
    raw: dict[str, t.Any]


@dataclass
class Expansion:
    """``${NAME}`` references expanded in one string."""

    text: str
    used: dict[str, str] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)


def expand_string(value: str, env: Mapping[str, str]) -> Expansion:
    """Expand ``${NAME}`` in ``value``; ``$${`` is a literal ``${``. Unset names stay as written."""
    result = Expansion(text=value)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body, closed = match.group("body"), match.group("close")
        if not closed or not _NAME_RE.fullmatch(body):
            result.malformed.append(match.group(0))
            return match.group(0)
        if body not in env:
            result.unset.append(body)
            return match.group(0)
        result.used[body] = env[body]
        return env[body]

    result.text = _REF_RE.sub(replace, value)
    return result


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
        from ao.config import snapshot

        view = snapshot.load(path)
        if view is not None:
            return LoadedConfig(path=path, model=t.cast("AoConfig", view), raw={})
    from ao.config.loader import load_file

    loaded = load_file(path)
    if cached:
        from ao.config import snapshot

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
