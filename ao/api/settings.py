"""One value of the config by its dotted key: ``ao config get|set|unset``."""

from __future__ import annotations

import dataclasses
import typing as t
from pathlib import Path

from ao.api.base import Base
from ao.config import load_config
from ao.sdk.errors import ConfigError

JSON = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class ConfigValue:
    """A key's effective value (``default``: the key is not in the file)."""

    key: str
    value: t.Any
    default: bool

    def to_json(self) -> JSON:
        """The data of ``ao config get --json``."""
        return {"key": self.key, "value": self.value, "default": self.default}


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """What ``config_set``/``config_unset`` did: the effective value before and after."""

    config: Path
    key: str
    old: t.Any
    new: t.Any
    changed: bool  # false: the file already said so, and was not written

    def to_json(self) -> JSON:
        """The data of ``ao config set|unset --json``."""
        return {"config": str(self.config), "key": self.key, "old": self.old,
                "new": self.new, "changed": self.changed}  # fmt: skip


class Settings(Base):
    """Reading and changing one value of the config."""

    def config_get(self, key: str) -> ConfigValue:
        """The effective value of ``key`` (``defaults.agent``, ``projects.app.maxSessions``):
        the default when the file does not set it. UsageError for an unknown key."""
        from ao.config.keys import lookup  # lazy: pydantic and yaml only for this call

        path = self.config_path
        return ConfigValue(*lookup(load_config(path, cwd=self.cwd), key))

    def config_set(self, key: str, value: t.Any) -> ConfigChange:
        """Set ``key`` in the config file, keeping its comments and order. A str is parsed
        by the key's type as the CLI does (``true``, ``5``, ``30m``, ``[a, b]``); other
        values are written as they are. Nothing is written unless the whole config then
        validates: UsageError for a value the key does not accept."""
        return self._change(key, value)

    def config_unset(self, key: str) -> ConfigChange:
        """Remove ``key`` from the config file, so its default applies."""
        from ao.config.keys import UNSET  # lazy: pydantic and yaml only for this call

        return self._change(key, UNSET)

    def _change(self, key: str, value: t.Any) -> ConfigChange:
        from ao.config.keys import edit_value  # lazy: pydantic and yaml only for this call

        path = self.config_path
        if path is None:
            raise ConfigError("no config to change", hint="run `ao start` in a repository first")
        name, old, new, changed = edit_value(path, key, value)
        self._forget_config()
        return ConfigChange(path, name, old, new, changed)
