"""One value of ``agent-orchestrator.yaml`` by its dotted key: ``ao config get|set|unset``.

Keys are spelled as in the file (``projects.app.maxSessions``); a model's attribute name
(``max_sessions``) is accepted too and reported in the file's spelling. Map levels
(``projects.<id>``, ``agents.<name>``, ``notifiers.<name>``...) take any name; lists are
set whole. ``set`` parses its text by the key's type, edits only the line(s) of that key
(comments, quoting and order elsewhere stay byte-for-byte), and writes nothing unless
the result parses to exactly the intended data and validates, under the lock of
``ao.config.edit``.
"""

from __future__ import annotations

import copy
import re
import typing as t
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ao.config.base import LoadedConfig
from ao.config.edit import _NOT_CHANGED, _line_end, _lock_for, _splice, _target, _trailing
from ao.config.events import EVENT_TYPES, GLOBS
from ao.config.loader import (
    _suggest,
    _unwrap,
    allowed_keys,
    check_text,
    effective,
    parse_text,
    read_config_text,
)
from ao.config.models import AoConfig
from ao.sdk.errors import ConfigError, NotFoundError, UsageError
from ao.store.locks import atomic_write, locked

UNSET: t.Any = object()  # ``edit_value``'s value that removes the key
_NULL = "tag:yaml.org,2002:null"


def resolve(key: str) -> tuple[tuple[str, ...], t.Any, FieldInfo | None]:
    """The key's parts in the file's spelling, its type, and its field (None in a map).

    UsageError for a malformed or unknown key, with the close matches at that level.
    """
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise UsageError(f"invalid key {key!r}", hint="write a dotted key, e.g. defaults.agent")
    tp: t.Any = AoConfig
    field: FieldInfo | None = None
    done: list[str] = []
    parts = _join_event_types(parts)
    for part in parts:
        here = ".".join(done)
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = tp.model_fields
            name = next((n for n, f in fields.items() if part in (f.alias, n)), None)
            if name is not None:
                field, tp = fields[name], fields[name].annotation
                done.append(fields[name].alias or name)
                continue
            if tp.model_config.get("extra") == "allow":  # notifiers.<name>: plugin options
                field, tp = None, t.Any
            else:
                allowed = allowed_keys(tp)
                guess = _suggest(part, allowed)
                full = f"{here}.{part}" if here else part
                raise UsageError(
                    f"unknown key {full!r}"
                    + (
                        f"; did you mean {(here + '.' if here else '') + guess!r}?" if guess else ""
                    ),
                    hint=f"keys{' of ' + here if here else ''}: {', '.join(allowed)} "
                    "(`ao config-help` describes every key)",
                )
        elif t.get_origin(tp) is dict:
            field, tp = None, t.get_args(tp)[1]
        elif tp is not t.Any:
            what = "a list: set it whole" if t.get_origin(tp) is list else "not a mapping"
            raise UsageError(f"unknown key {key!r}: {here} is {what}")
        done.append(part)
    return tuple(done), tp, field


def _join_event_types(parts: list[str]) -> list[str]:
    """Rejoin an event type or glob (``ci.failing``, ``pr.*``) split at its dot: a key of
    ``notificationRouting`` (whose values are lists, so the rest is the key) or of
    ``reactions`` (an event type or glob there)."""
    joined: list[str] = []
    i = 0
    while i < len(parts):
        if joined == ["notificationRouting"]:  # its keys hold lists: the rest is the key
            joined.append(".".join(parts[i:]))
            break
        pair = ".".join(parts[i : i + 2])
        in_map = bool(joined) and joined[-1] in ("notificationRouting", "reactions")
        if in_map and i + 1 < len(parts) and (pair in EVENT_TYPES or pair in GLOBS):
            joined.append(pair)
            i += 2
        else:
            joined.append(parts[i])
            i += 1
    return joined


def parse_value(text: str, tp: t.Any) -> t.Any:
    """The value ``text`` stands for, by the key's type: strings (paths, names, enums) as
    they are; anything else as YAML (``true``, ``5``, ``30m``, ``[a, b]``, JSON)."""
    tp = _unwrap(tp)
    literal = t.get_origin(tp) is t.Literal and all(isinstance(a, str) for a in t.get_args(tp))
    if tp in (str, Path) or literal:
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot read value {text!r}: {str(exc).splitlines()[0]}") from None
    if value is None:
        raise UsageError("an empty or null value", hint="`ao config unset KEY` removes a key")
    return value


def _walk(data: t.Any, parts: tuple[str, ...]) -> tuple[bool, t.Any]:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def lookup(loaded: LoadedConfig, key: str) -> tuple[str, t.Any, bool]:
    """(key as written in the file, effective value as JSON data, whether it is the default)."""
    parts, _, field = resolve(key)
    if parts[0] == "projects" and len(parts) > 1 and parts[1] not in loaded.model.projects:
        known = sorted(loaded.model.projects)
        close = _suggest(parts[1], known)
        raise NotFoundError(
            f"no project {parts[1]!r} in {loaded.path}"
            + (f"; did you mean {close!r}?" if close else ""),
            hint=f"known projects: {', '.join(known) or 'none'}",
        )
    found, value = _walk(effective(loaded), parts)
    if not found and field is not None and not field.is_required():  # in a missing map entry
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return ".".join(parts), value, not _walk(loaded.raw, parts)[0]


def _text_lookup(text: str, file: Path, key: str) -> t.Any:
    """The effective value of ``key`` in ``text`` (unset ``${NAME}`` allowed), else the
    value as written when the text does not validate."""
    parsed, model = check_text(text, str(file), strict_env=False)
    if model is None:
        return _walk(parsed.raw, resolve(key)[0])[1]
    for proj in model.projects.values():  # absolute, as ``load_config`` makes them
        proj.path = (file.parent / proj.path.expanduser()).resolve()
    try:
        return lookup(LoadedConfig(path=file, model=model, raw=parsed.raw), key)[1]
    except NotFoundError:  # projects.<id> before the project is added
        return None


def _flow(value: t.Any) -> str:
    """``value`` as one line of YAML: a scalar as in a block (``codex``, ``'true'``,
    ``https://x``), a collection in flow style (``[a, b]``, ``{k: v}``)."""
    if isinstance(value, dict | list):
        dumped = yaml.safe_dump([value], default_flow_style=True, width=1 << 20, allow_unicode=True)
        return dumped.strip()[1:-1]
    dumped = yaml.safe_dump(value, width=1 << 20, allow_unicode=True)
    return dumped.removesuffix("\n...\n").rstrip("\n")


def _nested(parts: list[str], value: t.Any) -> t.Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _block(parts: list[str], value: t.Any, indent: int, step: int, nl: str) -> str:
    lines = [" " * (indent + step * i) + _flow(p) + ":" for i, p in enumerate(parts)]
    return nl.join(lines) + " " + _flow(value) + nl


def _end_line(lines: list[str], key: yaml.Node, value: yaml.Node) -> int:
    """The line after the entry ``key: value``, less trailing blanks and shallower comments."""
    last = value
    while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and last.value:
        if last.flow_style:
            break
        item = last.value[-1]
        last = item[1] if isinstance(item, tuple) else item
    mark = last.end_mark
    end = min(mark.line + (1 if mark.column else 0), len(lines))
    while end > key.start_mark.line + 1 and _trailing(lines[end - 1], key.start_mark.column):
        end -= 1
    return end


def _step(root: yaml.Node | None) -> int:
    """The file's indentation step (2 when it has no nested block mapping)."""
    for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
        if isinstance(value, yaml.MappingNode) and value.value and not value.flow_style:
            return max(int(value.value[0][0].start_mark.column - key.start_mark.column), 1)
    return 2


def _edited(text: str, parts: tuple[str, ...], value: t.Any) -> str:
    """``text`` with ``parts`` set to ``value`` (or removed, for ``UNSET``)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    step = _step(root)
    node, parent_key = root, None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, yaml.MappingNode):
            entries = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
            if entries:
                key, val = entries[-1]
                if not last:
                    node, parent_key = val, key
                    continue
                return _replace(text, lines, (node, parent_key), (key, val), value, nl)
        if value is UNSET:
            return text  # nothing to remove
        rest = list(parts[i:])
        if node is None:
            return text + _block(rest, value, 0, step, nl)
        if isinstance(node, yaml.MappingNode) and node.flow_style:
            item = f"{_flow(rest[0])}: {_flow(_nested(rest[1:], value))}"
            close = node.end_mark.index - 1
            return _splice(text, close, close, (", " if node.value else "") + item)
        if isinstance(node, yaml.MappingNode):
            key, val = node.value[-1]
            at = sum(map(len, lines[: _end_line(lines, key, val)]))
            return _splice(text, at, at, _block(rest, value, key.start_mark.column, step, nl))
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL and parent_key is not None:
            text = _splice(text, node.start_mark.index, node.end_mark.index, "")
            at = _line_end(text, parent_key.start_mark.index)
            block = _block(rest, value, parent_key.start_mark.column + step, step, nl)
            return _splice(text, at, at, block)
        where = ".".join(parts[:i]) or "the top level"
        raise ConfigError(f"{where} is not a mapping in the file", hint=_NOT_CHANGED)
    raise AssertionError("unreachable")


def _replace(
    text: str,
    lines: list[str],
    parent: tuple[yaml.MappingNode, yaml.Node | None],
    entry: tuple[yaml.Node, yaml.Node],
    value: t.Any,
    nl: str,
) -> str:
    """``text`` with ``entry`` (key, value) of the mapping ``parent`` (the mapping and its
    key) given ``value``, or removed."""
    (mapping, parent_key), (key, val) = parent, entry
    if value is UNSET and mapping.flow_style:
        start, end = key.start_mark.index, val.end_mark.index
        after, before = re.match(r"\s*,\s*", text[end:]), re.search(r",\s*$", text[:start])
        if after:
            end += after.end()
        elif before:
            start = before.start()
        return _splice(text, start, end, "")
    if value is UNSET:
        start, end = key.start_mark.line, _end_line(lines, key, val)
        text = "".join(lines[:start] + lines[end:])
        if len(mapping.value) == 1 and parent_key is not None:  # it was the only key
            colon = text.index(":", parent_key.end_mark.index) + 1
            text = _splice(text, colon, colon, " {}")
        return text
    if isinstance(val, yaml.ScalarNode) or getattr(val, "flow_style", False):
        start, end = val.start_mark.index, val.end_mark.index
        pad = " " if start == end or text[start - 1] == ":" else ""
        return _splice(text, start, end, pad + _flow(value))
    colon = text.index(":", key.end_mark.index) + 1
    end = sum(map(len, lines[: _end_line(lines, key, val)]))
    return _splice(text, colon, end, " " + _flow(value) + nl)


def _with(data: dict[str, t.Any], parts: tuple[str, ...], value: t.Any) -> dict[str, t.Any]:
    out = copy.deepcopy(data)
    node = out
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    if value is UNSET:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return out


def _refuse(key: str, messages: list[str], file: Path) -> t.NoReturn:
    """The error for a change that would not validate: about the key (2) or the file (3)."""
    for msg in messages:
        rest = msg.removeprefix(f"{file}:").partition(": ")[2]
        where, _, why = rest.partition(": ")
        bare = re.sub(r"\[\d+\]", "", where)
        if bare and (key.startswith(bare + ".") or (bare + ".").startswith(key + ".")):
            told = why if where == key else rest
            raise UsageError(f"invalid value for {key}: {told}", hint=_NOT_CHANGED)
    raise ConfigError(f"{key} not changed: the config would not validate: {messages[0]}",
                      hint=f"{_NOT_CHANGED}; `ao config validate` lists every problem")  # fmt: skip


def edit_value(config_path: Path, key: str, value: t.Any) -> tuple[str, t.Any, t.Any, bool]:
    """Set ``key`` to ``value`` (a str is parsed by the key's type; ``UNSET`` removes it).

    Returns (key as written, old effective value, new effective value, whether the file
    changed). UsageError for an unknown key or a value the key does not accept,
    NotFoundError for a key inside a project that does not exist, ConfigError when the
    result would be invalid for another reason; then nothing is written.
    """
    parts, tp, _ = resolve(key)
    name = ".".join(parts)
    if value is not UNSET and isinstance(value, str):
        value = parse_value(value, tp)
    target = _target(config_path)
    with locked(_lock_for(target)):
        if not target.is_file():
            raise NotFoundError(f"config file {target} does not exist")
        text = read_config_text(target)  # as bytes: CRLF line ends stay
        if text and not text.endswith("\n"):
            text += "\n"
        parsed = parse_text(text, str(target))
        if parsed.fatal:
            raise ConfigError(parsed.messages()[0], hint=_NOT_CHANGED)
        projects = parsed.raw.get("projects") or {}
        if parts[0] == "projects" and len(parts) > 2 and parts[1] not in projects:
            raise NotFoundError(
                f"no project {parts[1]!r} in {target}",
                hint="add it with `ao add-project`, or set projects.<id> to a mapping",
            )
        old = _text_lookup(text, target, name)
        if _walk(parsed.raw, parts) == (value is not UNSET, None if value is UNSET else value):
            return name, old, old, False
        new_text = _edited(text, parts, value)
        try:
            reparsed = yaml.safe_load(new_text) or {}
        except yaml.YAMLError:
            reparsed = None
        if reparsed != _with(parsed.raw, parts, value):
            raise ConfigError(
                f"could not edit {target} without disturbing the rest of it",
                hint=f"{_NOT_CHANGED}; make the change by hand",
            )
        checked, model = check_text(new_text, str(target), strict_env=False)
        if model is None:
            _refuse(name, checked.messages(), target)
        atomic_write(target, new_text)
        return name, old, _text_lookup(new_text, target, name), True
