"""A validated config, cached so that read-mostly commands skip YAML and pydantic.

After a full load, the validated model is dumped (plain dicts, lists, strings, Paths)
to ``$AO_HOME/cache/config-<hash>.pickle`` together with a key: the file's real path,
size and mtime, the values of every ``${NAME}`` it references, ``HOME`` and ao's
version. A later load with the same key reads the dump (no pydantic import at all)
and serves it through ``View``, a read-only attribute view with the model's attribute
names. Any change to the file or those inputs falls back to a full validating load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import typing as t
from pathlib import Path

from ao import __version__
from ao.paths import ao_home

_ENV_REF = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FORMAT = 1


def plain(value: t.Any) -> t.Any:
    """The plain data behind ``value`` (a ``View`` or a model), for plugin options."""
    if isinstance(value, View):
        return value._data
    dump = getattr(value, "model_dump", None)
    return dump(by_alias=True, exclude_none=True) if dump is not None else value


class View:
    """Read-only attribute access to a dumped model (``view.projects["x"].path``)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, t.Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> t.Any:
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: t.Any) -> None:
        raise AttributeError("a cached config is read-only")

    # mapping behaviour, for fields that are dict[str, Model]
    def __getitem__(self, key: str) -> t.Any:
        return _wrap(self._data[key])

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: t.Any = None) -> t.Any:
        """Like ``dict.get``."""
        return _wrap(self._data[key]) if key in self._data else default

    def items(self) -> t.Iterator[tuple[str, t.Any]]:
        """Like ``dict.items``."""
        return ((k, _wrap(v)) for k, v in self._data.items())

    def keys(self) -> t.KeysView[str]:
        """Like ``dict.keys``."""
        keys: t.KeysView[str] = self._data.keys()
        return keys

    def values(self) -> t.Iterator[t.Any]:
        """Like ``dict.values``."""
        return (_wrap(v) for v in self._data.values())

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, t.Any]:
        """The dumped fields, as pydantic's ``model_dump`` would give them."""
        if exclude_none:
            return {k: v for k, v in self._data.items() if v is not None}
        return dict(self._data)


def _wrap(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return View(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _cache_file(config_path: Path) -> Path:
    digest = hashlib.sha256(str(config_path).encode()).hexdigest()[:12]
    return ao_home() / "cache" / f"config-{digest}.pickle"


def key_for(config_path: Path) -> tuple[t.Any, ...] | None:
    """What the cached dump depends on; None if the file cannot be read."""
    try:
        st = config_path.stat()
        refs = sorted(set(_ENV_REF.findall(config_path.read_bytes())))
    except OSError:
        return None
    env = tuple((name, os.environ.get(name.decode())) for name in refs)
    return (
        _FORMAT,
        __version__,
        str(config_path),
        st.st_size,
        st.st_mtime_ns,
        env,
        os.environ.get("HOME"),
    )


def load(config_path: Path) -> View | None:
    """The cached config for ``config_path`` if it is still valid, else None."""
    key = key_for(config_path)
    if key is None:
        return None
    try:
        with _cache_file(config_path).open("rb") as fh:
            cached_key, data = pickle.load(fh)  # trusted: ao's own file under AO_HOME
    except Exception:  # missing, torn or from another version: rebuild
        return None
    return View(data) if cached_key == key else None


def save(config_path: Path, data: dict[str, t.Any]) -> None:
    """Cache a validated model dump; failures only cost the next load some time."""
    key = key_for(config_path)
    if key is None:
        return
    dest = _cache_file(config_path)
    with contextlib.suppress(OSError):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump((key, data), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, dest)
