"""Reading ``agent-orchestrator.yaml``: YAML with line numbers, ``${NAME}`` expansion,
validation into ``AoConfig``, and every problem as one ``file:line: key.path: message``.

Hostile input is refused before anything is built from it: a file over
``MAX_CONFIG_BYTES``, nesting deeper than ``MAX_DEPTH``, an alias inside the collection
it names (a recursive structure), or more than ``MAX_VALUES`` values once aliases are
expanded are each one problem found by a cheap pass over the parser's events; any YAML
error, a control character included, is a ``file:line:column: invalid YAML`` problem.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
import types
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from ao.config.base import Expansion as Expansion
from ao.config.base import InvalidConfigError, LoadedConfig
from ao.config.base import expand_string as expand_string
from ao.config.models import AoConfig, KeyedValueError, ProjectConfig
from ao.config.names import default_prefix
from ao.sdk.redact import redact, register

KeyPath = tuple[t.Any, ...]
LineKey = tuple[str, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_CONFIG_BYTES = 1 << 20  # a real config is a few KB
MAX_DEPTH = 64  # nesting levels; a real config has fewer than ten
MAX_VALUES = 20_000  # with aliases expanded: a small file can be huge ("billion laughs")
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLUGIN_SLOTS = ("agent", "runtime", "workspace", "tracker", "scm")
_WORDING = (
    ("Input should be ", "expected "),
    ("a valid dictionary", "a mapping"),
    ("a valid list", "a list"),
    ("String should", "should"),
)

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = 4
_short.maxdict = 4
_short.maxlevel = 2


@dataclass
class Parsed:
    """One config text taken apart: its data, each key path's line, and what went wrong."""

    file: str
    raw: t.Any = None
    data: t.Any = None
    lines: dict[LineKey, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    env_refs: dict[KeyPath, dict[str, str]] = field(default_factory=dict)
    unresolved: set[KeyPath] = field(default_factory=set)
    fatal: bool = False
    visits: int = 0

    def line_of(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest ancestor the YAML gave a line to."""
        key = _line_key(path)
        for end in range(len(key), 0, -1):
            if key[:end] in self.lines:
                return self.lines[key[:end]]
        return 1

    def add(self, path: KeyPath, message: str, line: int | None = None) -> None:
        """Record a problem at ``path`` (its line unless ``line`` is given).

        A resolved ``${NAME}`` the message quotes (``got '…'``) is redacted.
        """
        where = self.line_of(path) if line is None else line
        shown = f"{format_path(path)}: " if path else ""
        self.problems.append((where, redact(f"{self.file}:{where}: {shown}{message}")))

    def messages(self) -> list[str]:
        """The problems, in file order."""
        return [msg for _, msg in sorted(self.problems, key=lambda item: item[0])]


def format_path(path: KeyPath) -> str:
    """``projects.app.postCreate[0].run`` from a key path."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_key(path: KeyPath) -> LineKey:
    return tuple(str(part) for part in path)


def _index_lines(
    node: yaml.Node, path: LineKey, parsed: Parsed, active: set[int], merged: bool = False
) -> None:
    """Record the line of every key path under ``node`` and flag duplicate keys."""
    parsed.visits += 1
    if id(node) in active or parsed.visits > MAX_VALUES:
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and not merged:
                parsed.add((*path, key), "duplicate key (only the last value would count)", line)
            seen.add(key)
            if merged:
                parsed.lines.setdefault((*path, key), line)
            else:
                parsed.lines[(*path, key)] = line
            _index_lines(value_node, (*path, key), parsed, active, merged)
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                _index_lines(source, path, parsed, active, merged=True)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            parsed.lines.setdefault((*path, str(i)), item.start_mark.line + 1)
            _index_lines(item, (*path, str(i)), parsed, active, merged)
    active.discard(id(node))


class _Loader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader (libyaml's when installed); a value Python cannot build (a date
    out of range, an integer of 5,000 digits) is a YAML error at its node."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> t.Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            why = str(exc).split(":")[0][:80] or type(exc).__name__
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({why})", node.start_mark
            ) from None


def _yaml_problem(parsed: Parsed, text: str, exc: yaml.YAMLError) -> Parsed:
    """Record ``exc`` as the fatal ``file:line:column: invalid YAML: …`` problem."""
    where, what = "", str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "unreadable YAML"
        what += f" ({exc.context})" if exc.context and exc.problem else ""
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    elif isinstance(exc, yaml.reader.ReaderError):
        code = exc.character
        what = str(exc.reason) if not isinstance(code, int) else (
            f"character #x{code:04x} is not allowed "
            f'(inside double quotes, write it as "\\u{code:04x}")'
        )  # fmt: skip
        before = text[: max(exc.position, 0)]
        if _BASE_LOADER is not yaml.SafeLoader:  # libyaml counts bytes of UTF-8
            before = text.encode("utf-8", "replace")[: exc.position].decode("utf-8", "ignore")
        where = f":{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"
    line = int(where.split(":")[1]) if where else 1
    parsed.problems.append((line, f"{parsed.file}{where}: invalid YAML: {' '.join(what.split())}"))
    parsed.fatal = True
    return parsed


def _refuse(parsed: Parsed, mark: t.Any, message: str) -> bool:
    line = mark.line + 1 if mark is not None else 1
    parsed.add((), message, line)
    parsed.fatal = True
    return False


def prescan(text: str, parsed: Parsed) -> bool:
    """One pass over the parser's events, before any node is built; False if refused.

    Refuses (as a fatal problem) nesting deeper than ``MAX_DEPTH``, an alias inside the
    collection its anchor names, and more than ``MAX_VALUES`` values with every alias
    expanded; a YAML error is recorded as it is. Bounded work: it stops at the first.
    """
    stack: list[list[t.Any]] = []  # per open collection: [anchor, values in it so far]
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    written = expanded = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    return _refuse(
                        parsed, event.start_mark,
                        f"nested more than {MAX_DEPTH} levels deep; ao does not load it",
                    )  # fmt: skip
                stack.append([event.anchor, 1])
                written += 1
                expanded += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if stack:
                    stack[-1][1] += size
                continue
            elif isinstance(event, yaml.AliasEvent | yaml.ScalarEvent):
                size = 1
                if isinstance(event, yaml.AliasEvent):
                    if any(frame[0] == event.anchor for frame in stack):
                        return _refuse(
                            parsed, event.start_mark,
                            f"alias *{event.anchor} is inside the collection &{event.anchor} "
                            "names (a structure that contains itself); ao does not load it",
                        )  # fmt: skip
                    size = sizes.get(str(event.anchor), 1)
                elif event.anchor is not None:
                    sizes[event.anchor] = 1
                written += 1
                expanded += size
                if stack:
                    stack[-1][1] += size
            else:
                continue
            if expanded > MAX_VALUES:
                how = "has" if written > MAX_VALUES else "expands (via YAML aliases) to"
                return _refuse(
                    parsed, event.start_mark,
                    f"the file {how} more than {MAX_VALUES} values; ao does not load it",
                )  # fmt: skip
    except yaml.YAMLError as exc:
        _yaml_problem(parsed, text, exc)
        return False
    except RecursionError:
        return _refuse(parsed, None, "nested too deeply; ao does not load it")
    return True


def parse_text(text: str, file: str) -> Parsed:
    """Parse YAML, recording key lines; a syntax error or a non-mapping top level is fatal.

    A text over ``MAX_CONFIG_BYTES`` or one ``prescan`` refuses is fatal before parsing.
    """
    parsed = Parsed(file=file)
    if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        _refuse(parsed, None, _too_big(len(text.encode("utf-8", "replace"))))
        return parsed
    if not prescan(text, parsed):
        return parsed
    node: yaml.Node | None = None
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _index_lines(node, (), parsed, set())  # bounded: prescan counted the values
                parsed.raw = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        return _yaml_problem(parsed, text, exc)
    except RecursionError:
        _refuse(parsed, None, "nested too deeply; ao does not load it")
        return parsed
    if parsed.raw is None:
        parsed.raw = {}
    if not isinstance(parsed.raw, dict):
        kind = "list" if isinstance(parsed.raw, list) else type(parsed.raw).__name__
        line = node.start_mark.line + 1 if node is not None else 1
        parsed.add(
            (), f"the top level must be a mapping of keys such as `projects:`, not a {kind}", line
        )
        parsed.fatal = True
    return parsed


def _expand(
    value: t.Any, path: KeyPath, parsed: Parsed, env: Mapping[str, str], strict: bool
) -> t.Any:
    if isinstance(value, str):
        if "${" not in value:
            return value
        done = expand_string(value, env)
        for ref in done.malformed:
            parsed.add(
                path,
                f"malformed environment reference {ref!r}: write ${{NAME}}, "
                "or $${ for a literal '${'",
            )
        for name in done.unset if strict else ():
            parsed.add(path, f"environment variable {name} is not set (used as ${{{name}}})")
        if done.malformed or done.unset:
            parsed.unresolved.add(path)
        if done.used:
            parsed.env_refs[path] = done.used
            for name, secret in done.used.items():
                register(secret, name)  # never shown in a message or an event
        return done.text
    if isinstance(value, dict):
        return {k: _expand(v, (*path, k), parsed, env, strict) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, i), parsed, env, strict) for i, v in enumerate(value)]
    return value


def _unwrap(tp: t.Any) -> t.Any:
    """Strip ``Annotated`` and ``| None`` from an annotation."""
    while True:
        origin = t.get_origin(tp)
        if origin is t.Annotated:
            tp = t.get_args(tp)[0]
        elif origin in (t.Union, types.UnionType):
            args = [a for a in t.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: t.Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def model_at(path: KeyPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (None for free-form levels)."""
    tp: t.Any = AoConfig
    for part in path:
        tp = _unwrap(tp)
        if _is_model(tp):
            fields = tp.model_fields.items()
            found = next((f for n, f in fields if (f.alias or n) == part), None)
            if found is None:
                return None
            tp = found.annotation
        elif t.get_origin(tp) is dict:
            tp = t.get_args(tp)[1]
        elif t.get_origin(tp) is list:
            tp = t.get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    return tp if _is_model(tp) else None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys a model accepts."""
    return [f.alias or n for n, f in model.model_fields.items()]


def _suggest(key: str, allowed: list[str]) -> str | None:
    def norm(s: str) -> str:
        return re.sub(r"[-_]", "", s).lower()

    for option in allowed:
        if norm(option) == norm(key):
            return option
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _has(node: t.Any, part: t.Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _data_path(data: t.Any, loc: tuple[t.Any, ...], kind: str) -> KeyPath:
    """The part of a pydantic ``loc`` that exists in the data (union tags etc. dropped)."""
    node, path = data, []
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif kind == "extra_forbidden" and isinstance(node, dict):
            path.append(part)
            break
        else:
            break
        path.append(part)
    return tuple(path)


def _message(err: t.Mapping[str, t.Any], path: KeyPath) -> str:
    kind, msg, loc = err["type"], str(err["msg"]), err["loc"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        model = model_at(path[:-1])
        allowed = allowed_keys(model) if model else []
        guess = _suggest(key, allowed)
        if guess:
            return f"unknown key {key!r}; did you mean {guess!r}?"
        return f"unknown key {key!r} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value|Assertion) error, ", "", msg)
    for old, new in _WORDING:
        msg = msg.replace(old, new)
    if "[key]" in loc:
        return f"key {_short.repr(err['input'])}: {msg}"
    return f"{msg}; got {_short.repr(err['input'])}"


def validate(parsed: Parsed) -> AoConfig | None:
    """Validate the expanded data; record pydantic's errors as problems at their lines."""
    try:
        return AoConfig.model_validate(parsed.data, by_alias=True, by_name=False)
    except ValidationError as exc:
        reported: set[tuple[t.Any, ...]] = set()
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            path = _data_path(parsed.data, loc, err["type"])
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, KeyedValueError):
                for key in cause.keys:  # point at the key (and item) the error is about
                    if not _has(_get(parsed.data, path), key):
                        break
                    path = (*path, key)
            # a union reports once per member type; one line per place is enough
            seen = (path, err["type"] == "missing" and loc[-1], "[key]" in loc)
            if seen in reported or any(path[: len(u)] == u for u in parsed.unresolved):
                continue
            reported.add(seen)
            parsed.add(path, _message(err, path))
        return None


def check_text(
    text: str, file: str, *, env: Mapping[str, str] | None = None, strict_env: bool = True
) -> tuple[Parsed, AoConfig | None]:
    """Parse, expand and validate a config text.

    With ``strict_env=False`` unset variables are not problems (their values are skipped),
    which is how edits check a file whose secrets this process does not have.
    """
    parsed = parse_text(text, file)
    if parsed.fatal:
        return parsed, None
    parsed.data = _expand(parsed.raw, (), parsed, os.environ if env is None else env, strict_env)
    model = validate(parsed)
    if parsed.problems:
        return parsed, None
    return parsed, model


def _too_big(size: int) -> str:
    return (
        f"the file is {size} bytes; ao reads configs of at most {MAX_CONFIG_BYTES} bytes "
        "(a config is a few KB)"
    )


def read_config_text(path: Path) -> str:
    """The text of the config at ``path``, read no further than ``MAX_CONFIG_BYTES``.

    InvalidConfigError when it is missing, unreadable, too big or not UTF-8.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise InvalidConfigError([f"config file {path} does not exist"]) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InvalidConfigError([f"cannot read config file {path}: {why}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidConfigError(
            [f"{path}: {_too_big(max(_size(path), len(data)))}"],
            hint="check that AO_CONFIG (or --config) names the right file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidConfigError(
            [f"{path}:{line}: the file is not UTF-8 (byte 0x{data[exc.start]:02x})"],
            hint="save the config as UTF-8",
        ) from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def load_file(path: Path) -> LoadedConfig:
    """Load, expand and validate the config at ``path``; project paths become absolute."""
    path = Path(path).expanduser().absolute()
    text = read_config_text(path)
    path = path.resolve()
    parsed, model = check_text(text, str(path))
    if model is None:
        raise InvalidConfigError(parsed.messages(), hint="`ao config-help` describes every key")
    for proj in model.projects.values():
        proj.path = (path.parent / proj.path.expanduser()).resolve()
    return LoadedConfig(path=path, model=model, raw=parsed.raw)


def effective(loaded: LoadedConfig, env: Mapping[str, str] | None = None) -> dict[str, t.Any]:
    """The config as ao uses it, defaults filled in, ``${NAME}`` values shown as references."""
    model = loaded.model
    data: dict[str, t.Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    order = allowed_keys(ProjectConfig)
    for pid, proj in data["projects"].items():
        for slot in _PLUGIN_SLOTS:
            proj.setdefault(slot, getattr(model.defaults, slot))
        proj.setdefault("sessionPrefix", default_prefix(pid))
        data["projects"][pid] = {k: proj[k] for k in sorted(proj, key=order.index)}
    parsed = Parsed(file=str(loaded.path))
    _expand(loaded.raw, (), parsed, os.environ if env is None else env, False)
    for path, used in parsed.env_refs.items():
        _redact(data, path, _get(loaded.raw, path), used)
    for section in ("notifiers", "plugins"):
        for options in data.get(section, {}).values():
            if isinstance(options, dict):
                _hide_secrets(options)
    return data


_SECRET_KEY = re.compile(r"url|webhook|secret|token|password|passwd|key$", re.I)


def _hide_secrets(options: dict[str, t.Any]) -> None:
    """Literal credentials in plugin options (a webhook URL's path holds its token) are
    shown reduced: a URL to its scheme and host, anything else as ``<redacted>``."""

    for key, value in options.items():
        if not (isinstance(value, str) and _SECRET_KEY.search(key)) or value.startswith("${"):
            continue
        url = urlsplit(value) if "://" in value else None
        if url is None or not url.hostname:
            options[key] = "<redacted>"
        elif url.path.strip("/") or url.query or url.username:
            port = f":{url.port}" if url.port else ""
            options[key] = f"{url.scheme}://{url.hostname}{port}/… <redacted>"


def _get(data: t.Any, path: KeyPath) -> t.Any:
    """The value at ``path`` in ``data``, or None if there is none."""
    for part in path:
        if not _has(data, part):
            return None
        data = data[part]
    return data


def _redact(data: t.Any, path: KeyPath, written: str, used: dict[str, str]) -> None:
    """Put the ``${NAME}`` text back where an expanded secret would be shown."""
    parent: t.Any = None
    node = data
    for part in path:
        parent = node
        if not _has(node, part):
            return
        node = node[part]
    if parent is not None and not isinstance(node, dict | list):
        parent[path[-1]] = written
        return
    # the value was reshaped (a command string became argv...): replace inside it
    secrets = sorted(((v, k) for k, v in used.items() if v), key=lambda p: -len(p[0]))

    def scrub(value: t.Any) -> t.Any:
        if isinstance(value, str):
            for secret, name in secrets:
                value = value.replace(secret, "${" + name + "}")
            return value
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    if parent is not None:
        parent[path[-1]] = scrub(node)
