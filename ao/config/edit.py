"""Changing ``agent-orchestrator.yaml`` without disturbing the rest of it.

Edits are made to the text, next to the lines they touch, so comments, quoting and key
order elsewhere stay byte-for-byte. Every edit is checked twice before it is written:
the new text must parse to exactly the old data plus the change, and must validate. A
failed check leaves the file untouched. Writers hold a lock under ``$AO_HOME/locks`` (not
next to the config, so the user's repository gets no extra files) and replace the file
atomically.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import typing as t
from pathlib import Path

import yaml

from ao.config import InvalidConfigError
from ao.config.loader import check_text, expand_string, parse_text
from ao.config.models import NAME_RE, SCHEMA_VERSION, AoConfig, Defaults, ProjectConfig
from ao.sdk.errors import ConfigError, ConflictError, NotFoundError, UsageError
from ao.sdk.home import ao_home, private_dir
from ao.store.locks import atomic_write, locked

_HEADER = (
    "# agent-orchestrator.yaml: the repositories ao runs coding agents in; "
    "`ao config-help` describes every key.\n"
    "# Secrets: write ${NAME} to use an environment variable; ao never writes their values.\n"
)
_NOT_CHANGED = "the file was not changed"


def schema_json() -> dict[str, t.Any]:
    """The JSON Schema of the config file (draft 2020-12), generated from the models."""
    body = AoConfig.model_json_schema(by_alias=True)
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:ao:agent-orchestrator-config:v{SCHEMA_VERSION}",
        "title": "agent-orchestrator.yaml",
    }
    return {**head, **{k: v for k, v in body.items() if k != "title"}}


def schema_text() -> str:
    """``schema_json()`` as the text ``ao config schema`` prints and docs/ commits."""
    return json.dumps(schema_json(), indent=2, ensure_ascii=False) + "\n"


def write_schema_file() -> Path:
    """Write the JSON Schema to ``$AO_HOME/config.schema.json`` (if changed); return its path."""
    target = ao_home() / "config.schema.json"
    text = schema_text()
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        private_dir(target.parent)
        atomic_write(target, text)
    return target


def _plain(value: t.Any) -> t.Any:
    """Plain YAML-able data: paths become strings, tuples lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _project_entry(fields: dict[str, t.Any]) -> dict[str, t.Any]:
    """A project's YAML mapping: attribute names (``default_branch``) become keys (camelCase)."""
    aliases = {name: info.alias or name for name, info in ProjectConfig.model_fields.items()}
    return {aliases.get(k, k): _plain(v) for k, v in fields.items() if v is not None}


def _dump(data: dict[str, t.Any], indent: int = 2) -> str:
    return yaml.safe_dump(
        data,
        sort_keys=False,
        default_flow_style=False,
        indent=indent,
        width=4096,
        allow_unicode=True,
    )


def _check(text: str, file: str) -> None:
    """Raise InvalidConfigError unless ``text`` is a valid config (unset ``${NAME}`` allowed)."""
    parsed, model = check_text(text, file, strict_env=False)
    if model is None:
        raise InvalidConfigError(parsed.messages(), hint=_NOT_CHANGED)


def new_config_text(projects: dict[str, dict[str, t.Any]]) -> str:
    """A fresh, validated config holding ``projects`` (id to fields)."""
    defaults = Defaults()
    data = {
        "$schema": str(write_schema_file()),
        "defaults": {
            "agent": defaults.agent,
            "runtime": defaults.runtime,
            "workspace": defaults.workspace,
        },
        "projects": {pid: _project_entry(fields) for pid, fields in projects.items()},
    }
    text = _HEADER + _dump(data)
    _check(text, "new agent-orchestrator.yaml")
    return text


def _lock_for(config_path: Path) -> Path:
    digest = hashlib.sha256(str(config_path).encode()).hexdigest()[:12]
    return ao_home() / "locks" / f"config-{digest}.lock"


def _target(config_path: Path) -> Path:
    # edit the real file: replacing a symlink would cut it loose from what it points to
    return Path(config_path).expanduser().absolute().resolve()


class _Doc:
    """A config text with its lines and the YAML nodes of its top level and ``projects``."""

    def __init__(self, text: str, file: Path) -> None:
        if text and not text.endswith("\n"):
            text += "\n"
        self.text = text
        self.file = file
        self.newline = "\r\n" if "\r\n" in text else "\n"
        parsed = parse_text(text, str(file))
        if parsed.fatal:
            raise InvalidConfigError(parsed.messages(), hint=_NOT_CHANGED)
        self.data: dict[str, t.Any] = parsed.raw
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        self.key: yaml.ScalarNode | None = None
        self.value: yaml.Node | None = None
        for key_node, value_node in root.value if root is not None else []:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "projects":
                self.key, self.value = key_node, value_node
        projects = self.data.get("projects")
        if projects is not None and not isinstance(projects, dict):
            raise InvalidConfigError(
                [f"{file}: projects: must be a mapping of project ids"], hint=_NOT_CHANGED
            )
        self.projects: dict[str, t.Any] = projects or {}

    def key_line(self) -> int:
        """The 0-based line of the ``projects:`` key (-1 if there is none)."""
        return self.key.start_mark.line if self.key is not None else -1

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines(keepends=True)

    def offset(self, line: int) -> int:
        """Character offset of the start of 0-based ``line``."""
        return sum(len(s) for s in self.lines[:line])

    def entries(self) -> list[tuple[yaml.Node, yaml.Node]]:
        value = self.value
        return list(value.value) if isinstance(value, yaml.MappingNode) else []

    def block(self) -> bool:
        return isinstance(self.value, yaml.MappingNode) and not self.value.flow_style

    def entry_span(self, i: int) -> tuple[int, int]:
        """Lines ``[start, end)`` of block entry ``i``: its comments above, not those below."""
        lines, entries = self.lines, self.entries()
        key, value = entries[i]
        indent = key.start_mark.column
        start = key.start_mark.line
        while start > 0 and _comment_at(lines[start - 1]) == indent:
            start -= 1
        if i + 1 < len(entries):
            end = entries[i + 1][0].start_mark.line
        else:
            mark = value.end_mark
            end = min(mark.line + (1 if mark.column else 0), len(lines))
        # blank lines and shallower comments before the next key belong to what follows
        while end > key.start_mark.line + 1 and _trailing(lines[end - 1], indent):
            end -= 1
        return start, end


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _comment_at(line: str) -> int | None:
    """The indent of a comment-only line, else None."""
    return _indent(line) if line.strip().startswith("#") else None


def _trailing(line: str, indent: int) -> bool:
    comment = _comment_at(line)
    return not line.strip() or (comment is not None and comment <= indent)


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def _with_project(doc: _Doc, project_id: str, entry: dict[str, t.Any]) -> str:
    """``doc``'s text with one more project, written in the style around it."""
    nl, text = doc.newline, doc.text
    if doc.key is None:
        block = _dump({"projects": {project_id: entry}})
        return text + block.replace("\n", nl)
    value = doc.value
    if isinstance(value, yaml.MappingNode) and value.flow_style and value.value:
        close = value.end_mark.index - 1
        item = f", {json.dumps(project_id)}: {json.dumps(entry)}"
        return _splice(text, close, close, item)
    if isinstance(value, yaml.MappingNode) and not value.flow_style:
        entries = doc.entries()
        first_key, first_value = entries[0]
        indent = first_key.start_mark.column
        step = 2
        if isinstance(first_value, yaml.MappingNode) and first_value.value:
            step = max(first_value.value[0][0].start_mark.column - indent, 1)
        block = _dump({project_id: entry}, indent=step)
        lines = [(" " * indent + line if line else line) for line in block.split("\n")]
        _, end = doc.entry_span(len(entries) - 1)
        at = doc.offset(end)
        return _splice(text, at, at, nl.join(lines))
    null = isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null"
    if value is not None and (null or isinstance(value, yaml.MappingNode)):
        # `projects:`, `projects: ~` or `projects: {}`: start a block under the key
        block = _dump({project_id: entry})
        lines = [("  " + line if line else line) for line in block.split("\n")]
        text = _splice(text, value.start_mark.index, value.end_mark.index, "")
        at = _line_end(text, doc.key.start_mark.index)
        return _splice(text, at, at, nl.join(lines))
    raise InvalidConfigError(
        [f"{doc.file}: projects: must be a mapping of project ids"], hint=_NOT_CHANGED
    )


def _line_end(text: str, index: int) -> int:
    """Offset just past the newline that ends the line holding ``index``."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _without_project(doc: _Doc, project_id: str) -> str:
    """``doc``'s text with the project removed, with the comments that describe it."""
    text, entries = doc.text, doc.entries()
    i = next(n for n, (k, _) in enumerate(entries) if getattr(k, "value", None) == project_id)
    key, value = entries[i]
    if not doc.block():
        start, end = key.start_mark.index, value.end_mark.index
        after = re.match(r"\s*,\s*", text[end:])
        before = re.search(r",\s*$", text[:start])
        if after:
            end += after.end()
        elif before:
            start = before.start()
        return _splice(text, start, end, "")
    lines = doc.lines
    start, end = doc.entry_span(i)
    # keep one blank line where two would meet, none right under `projects:`
    blank_after = end < len(lines) and not lines[end].strip()
    if blank_after and (start == 0 or not lines[start - 1].strip() or start - 1 == doc.key_line()):
        end += 1
    text = _splice(text, doc.offset(start), doc.offset(end), "")
    if len(entries) == 1 and doc.key is not None:
        colon = text.index(":", doc.key.end_mark.index)
        text = _splice(text, colon + 1, colon + 1, " {}")
    return text


def _same_path(written: t.Any, wanted: t.Any, base: Path) -> bool:
    def norm(value: t.Any) -> Path | None:
        if not isinstance(value, str | Path):
            return None
        expanded = expand_string(str(value), os.environ).text
        return (base / Path(expanded).expanduser()).resolve()

    return norm(written) is not None and norm(written) == norm(wanted)


def _commit(doc: _Doc, new_text: str, expected: dict[str, t.Any]) -> None:
    """Write ``new_text`` if it parses to ``expected`` and validates; else change nothing."""
    try:
        reparsed = yaml.safe_load(new_text) or {}
    except yaml.YAMLError:
        reparsed = None
    if reparsed != expected:
        raise ConfigError(
            f"could not edit {doc.file} without disturbing the rest of it",
            hint=f"{_NOT_CHANGED}; make the change by hand",
        )
    _check(new_text, str(doc.file))
    atomic_write(doc.file, new_text)


def add_project(config_path: Path, project_id: str, fields: dict[str, t.Any]) -> None:
    """Add ``project_id`` to the config (creating the file if missing).

    A no-op if the project exists with the same path; ConflictError if with another.
    """
    if not re.fullmatch(NAME_RE, project_id):
        raise UsageError(
            f"invalid project id {project_id!r}",
            hint="use letters, digits, '-' and '_', starting with a letter or digit",
        )
    entry = _project_entry(fields)
    target = _target(config_path)
    with locked(_lock_for(target)):
        if not target.exists():
            atomic_write(target, new_config_text({project_id: fields}))
            return
        doc = _Doc(target.read_text(encoding="utf-8"), target)
        if project_id in doc.projects:
            current = doc.projects[project_id]
            written = current.get("path") if isinstance(current, dict) else None
            if _same_path(written, entry.get("path"), target.parent):
                return
            raise ConflictError(
                f"project {project_id!r} already exists in {target} with path {written}",
                hint="choose another project id, or remove that project first",
            )
        expected = copy.deepcopy(doc.data)
        expected.setdefault("projects", None)
        expected["projects"] = {**(expected["projects"] or {}), project_id: entry}
        _commit(doc, _with_project(doc, project_id, entry), expected)


def remove_project(config_path: Path, project_id: str) -> None:
    """Remove ``project_id`` from the config; NotFoundError if it is not there."""
    target = _target(config_path)
    with locked(_lock_for(target)):
        if not target.is_file():
            raise NotFoundError(f"config file {target} does not exist")
        doc = _Doc(target.read_text(encoding="utf-8"), target)
        if project_id not in doc.projects:
            known = ", ".join(sorted(map(str, doc.projects))) or "none"
            raise NotFoundError(
                f"no project {project_id!r} in {target}", hint=f"known projects: {known}"
            )
        expected = copy.deepcopy(doc.data)
        del expected["projects"][project_id]
        _commit(doc, _without_project(doc, project_id), expected)
