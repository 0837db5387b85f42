"""Plugin options (``plugins.<name>`` in the config) read into a pydantic model.

A plugin that declares its options as a model (``extra="forbid"``) gets every problem at
once, each named by its config key (``plugins.docker.network: Input should be ...``).
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError

from ao.sdk.errors import ConfigError

M = t.TypeVar("M", bound=BaseModel)


def parse_options(model: type[M], options: Mapping[str, t.Any] | None, plugin: str) -> M:
    """``options`` validated as ``model``; a ConfigError naming each bad key otherwise."""
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"plugins.{plugin}." + ".".join(str(p) for p in e["loc"]) + f": {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(
            problems, hint=f"fix plugins.{plugin} in the config; the plugin's docs list its keys"
        ) from None
