"""A validated config, cached so that read-mostly commands skip YAML and pydantic.

After a full load, the validated model is dumped as JSON to
``$AO_HOME/cache/config-<hash>.json`` (mode 0600) with a key: the cache format, ao's
version, the file's real path, size and mtime, and ``HOME``. A later load with the same
key reads the dump (no pydantic or yaml import at all) and serves it through ``View``, a
read-only attribute view with the model's attribute names. Any change to the file or
those inputs, or a cache that does not parse, falls back to a full validating load.

No resolved ``${NAME}`` is ever written. A value that came from a reference is stored as
the YAML wrote it (``${GITHUB_TOKEN}``) and resolved from the environment each time the
cache is read (an unset name is a miss). That is only done where validation takes a
string as it is: plugin options (``plugins.<name>.…``), notifier options
(``notifiers.<name>.…``) and session environments (``projects.<id>.env.<NAME>``). A
config with a reference anywhere else (a project path, an agent command) is validated
on every load, since its validated form depends on the value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import typing as t
from pathlib import Path

from ao import __version__
from ao.config.base import expand_string
from ao.sdk.home import ao_home
from ao.sdk.httpcache import write_atomic
from ao.sdk.redact import register

FORMAT = 2  # 1 was a pickle that held resolved secrets; it is deleted on sight
KeyPath = tuple[t.Any, ...]


class Uncacheable(Exception):
    """The dump holds something the JSON cache cannot give back exactly."""


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


def _cache_dir() -> Path:
    return ao_home() / "cache"


def _cache_file(config_path: Path) -> Path:
    digest = hashlib.sha256(str(config_path).encode()).hexdigest()[:12]
    return _cache_dir() / f"config-{digest}.json"


def key_for(config_path: Path) -> list[t.Any] | None:
    """What the cached dump depends on (never a ``${NAME}``'s value); None if unreadable."""
    try:
        st = config_path.stat()
    except OSError:
        return None
    return [
        FORMAT,
        __version__,
        str(config_path),
        st.st_size,
        st.st_mtime_ns,
        os.environ.get("HOME"),
        shutil.which("tmux") is not None,  # the default runtime depends on it
    ]


def _free_form(path: KeyPath) -> bool:
    """Whether validation passes the string at ``path`` through as it is."""
    if len(path) >= 3 and path[0] == "plugins":
        return True
    if len(path) >= 3 and path[0] == "notifiers" and path[2] != "plugin":
        return True
    return len(path) == 4 and path[0] == "projects" and path[2] == "env"


def _references(raw: t.Any, path: KeyPath = ()) -> t.Iterator[tuple[KeyPath, str]]:
    """Every string in the raw YAML data that holds a ``${NAME}``, with its key path."""
    if isinstance(raw, str):
        if expand_string(raw, {}).unset:
            yield path, raw
    elif isinstance(raw, dict):
        for key, value in raw.items():
            yield from _references(value, (*path, key))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            yield from _references(value, (*path, i))


def _at(data: t.Any, path: KeyPath) -> t.Any:
    for part in path:
        data = data[part]
    return data


def _encode(value: t.Any, path: KeyPath, paths: list[list[t.Any]]) -> t.Any:
    """``value`` as JSON data; the locations of ``Path`` values are added to ``paths``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise Uncacheable(path)
        return value
    if isinstance(value, Path):
        paths.append(list(path))
        return str(value)
    if isinstance(value, list):
        return [_encode(v, (*path, i), paths) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode(v, (*path, k), paths) for k, v in value.items()}
    raise Uncacheable(path)


def _resolve(template: str) -> str | None:
    """``template`` with its ``${NAME}``s from the environment; None if one is unset."""
    done = expand_string(template, os.environ)
    if done.unset or done.malformed:
        return None
    for name, value in done.used.items():
        register(value, name)
    return done.text


def load(config_path: Path) -> View | None:
    """The cached config for ``config_path`` if it is still valid, else None."""
    key = key_for(config_path)
    if key is None:
        return None
    try:
        doc = json.loads(_cache_file(config_path).read_bytes())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
            return None
        data = doc["data"]
        for where in doc["paths"]:
            parent = _at(data, tuple(where[:-1]))
            parent[where[-1]] = Path(parent[where[-1]])
        for where, template in doc["refs"]:
            value = _resolve(template)
            if value is None:
                return None  # a variable went away: the full load says what is wrong
            _at(data, tuple(where[:-1]))[where[-1]] = value
    except Exception:  # missing, torn, edited or from another version: a miss
        return None
    return View(data) if isinstance(data, dict) else None


def _remove_legacy(directory: Path) -> None:
    """Delete pickled caches of older versions: they hold resolved secrets."""
    with contextlib.suppress(OSError):
        for old in directory.glob("config-*.pickle"):
            with contextlib.suppress(OSError):
                old.unlink()


def _document(key: list[t.Any], data: dict[str, t.Any], raw: t.Any) -> dict[str, t.Any] | None:
    """The cache document, every resolved reference put back as written; None if the
    config cannot be cached without a secret (or exactly)."""
    paths: list[list[t.Any]] = []
    try:
        encoded = _encode(data, (), paths)
        refs = []
        for where, template in _references(raw):
            if not where or not _free_form(where):
                return None  # the validated form depends on the value
            resolved = expand_string(template, os.environ)
            if resolved.unset or resolved.malformed or _at(encoded, where) != resolved.text:
                return None
            _at(encoded, where[:-1])[where[-1]] = template
            refs.append([list(where), template])
    except (Uncacheable, KeyError, IndexError, TypeError):
        return None
    return {"format": FORMAT, "key": key, "data": encoded, "paths": paths, "refs": refs}


def save(config_path: Path, data: dict[str, t.Any], raw: t.Any) -> None:
    """Cache a validated model dump (``raw``: the YAML as written, to find references).

    Nothing resolved from a ``${NAME}`` is written; a config that cannot be cached
    that way is not cached. Failures only cost the next load some time.
    """
    directory = _cache_dir()
    _remove_legacy(directory)
    key = key_for(config_path)
    doc = None if key is None else _document(key, data, raw)
    dest = _cache_file(config_path)
    if doc is None:
        with contextlib.suppress(OSError):
            dest.unlink()
        return
    with contextlib.suppress(OSError, ValueError):
        write_atomic(dest, json.dumps(doc, ensure_ascii=False, allow_nan=False))
