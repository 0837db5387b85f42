"""What the config package's modules share: the loaded config, its errors and ``${NAME}``
expansion. Cheap to import (no pydantic, no yaml)."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ao.sdk.errors import ConfigError

if t.TYPE_CHECKING:
    from ao.config.models import AoConfig


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

    def runtime_options(self, name: str) -> dict[str, t.Any]:
        """Options the config keeps for runtime plugin ``name`` outside ``plugins.<name>``:
        the top-level ``tmux`` block, for the tmux runtime (also on a cached view)."""
        if name != "tmux":
            return {}
        return dict(self.model.tmux.model_dump(exclude_none=True))


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
