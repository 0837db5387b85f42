"""``ao config validate|show|schema|get|set|unset`` and ``ao config-help``: the config,
checked, explained and changed one key at a time.

pydantic and yaml are imported inside the commands so ``ao --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
import typing as t
from pathlib import Path

import typer

from ao.cli.output import emit_json, info, out

if t.TYPE_CHECKING:
    from ao.api import ConfigChange

CONFIG_EXIT = 3  # ConfigError's exit code, without importing the error tree at startup

_PLACEHOLDERS = {"projects": "<id>"}

JsonFlag = t.Annotated[bool, typer.Option("--json", help='Print {"v":1,"data":{...}} on stdout.')]


def _validate(
    path: t.Annotated[
        Path | None,
        typer.Argument(help="Config file to check (default: the one ao would use here)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the config; print every problem, one per line (exit 3 if any)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.config import find_config_path, load_config
    from ao.sdk.errors import ConfigError

    target: Path | None = None
    try:
        target = path.expanduser().absolute() if path else find_config_path()
        loaded = load_config(target)
    except ConfigError as exc:
        problems: list[str] = list(getattr(exc, "problems", None) or [exc.message])
        if target is None and exc.hint:
            # no file was found: the hint is the fix, so keep it on the line
            problems[0] += f" ({exc.hint})"
        if as_json:
            emit_json(
                {"path": str(target) if target else None, "valid": False, "problems": problems}
            )
        else:
            sys.stderr.write("".join(p + "\n" for p in problems))
        raise typer.Exit(CONFIG_EXIT) from None
    count = len(loaded.model.projects)
    if as_json:
        emit_json({"path": str(loaded.path), "valid": True, "problems": []})
    else:
        out(f"ok: {loaded.path} ({count} project{'' if count == 1 else 's'})")


def _show(as_json: JsonFlag = False) -> None:
    """Print the effective config: defaults filled in, ${NAME} references left unexpanded."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.config import load_config
    from ao.config.loader import effective

    loaded = load_config()
    data = effective(loaded)
    if as_json:
        emit_json({"path": str(loaded.path), "config": data})
        return
    # lazy: yaml only for `ao config show`
    import yaml

    sys.stdout.write(f"# effective config of {loaded.path}\n")
    sys.stdout.write(
        yaml.safe_dump(
            data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
        )
    )


KeyArg = t.Annotated[
    str,
    typer.Argument(help="Dotted key as in the file: defaults.agent, projects.<id>.maxSessions."),
]


def _shown(value: t.Any, inline: bool = False) -> str:
    """A value as the shell shows it: scalars bare, lists of scalars (and, ``inline``,
    every collection) as flow YAML (``[a, b]``), mappings and lists of them as YAML."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str | int | float):
        return str(value)
    # lazy: yaml only for a collection
    import yaml

    flat = inline or (
        isinstance(value, list) and not any(isinstance(v, dict | list) for v in value)
    )
    return yaml.safe_dump(
        value, default_flow_style=flat, sort_keys=False, allow_unicode=True, width=1 << 20
    ).rstrip("\n")


def _get(key: KeyArg, as_json: JsonFlag = False) -> None:
    """Print a key's effective value (its default when the file does not set it)."""
    from ao.cli.common import orchestrator  # lazy: `ao --help` never imports the API

    got = orchestrator().config_get(key)
    if as_json:
        emit_json(got.to_json())
        return
    out(_shown(got.value))
    if got.default:
        info(f"ao: note: {got.key} is not set in the file; this is its default")


def _set(
    key: KeyArg,
    value: t.Annotated[
        str,
        typer.Argument(
            help="New value, read by the key's type: true/false, 5, 30m, an enum's name, "
            "[a, b] or JSON for a list or mapping, anything else as a string."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Set a key in agent-orchestrator.yaml, keeping its comments and order."""
    from ao.cli.common import orchestrator  # lazy: `ao --help` never imports the API

    _changed(orchestrator().config_set(key, value), as_json)


def _unset(key: KeyArg, as_json: JsonFlag = False) -> None:
    """Remove a key from agent-orchestrator.yaml, so its default applies."""
    from ao.cli.common import orchestrator  # lazy: `ao --help` never imports the API

    _changed(orchestrator().config_unset(key), as_json, unset=True)


def _changed(change: ConfigChange, as_json: bool, unset: bool = False) -> None:
    if as_json:
        emit_json(change.to_json())
    elif unset:
        done = "removed" if change.changed else "not set"
        out(f"{change.key}: {done}; the default applies: {_shown(change.new, True)}")
    elif change.changed:
        out(f"{change.key}: {_shown(change.old, True)} → {_shown(change.new, True)}")
    else:
        out(f"{change.key}: {_shown(change.new, True)} (unchanged)")


def _schema() -> None:
    """Print the JSON Schema of agent-orchestrator.yaml."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.config.edit import schema_text

    sys.stdout.write(schema_text())


def _config_help() -> None:
    """Describe every key of agent-orchestrator.yaml."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.config.edit import schema_json

    sys.stdout.write(render_help(schema_json()))


def render_help(schema: dict[str, t.Any]) -> str:
    """A key-by-key guide to the config, generated from its JSON Schema."""
    lines = [
        "agent-orchestrator.yaml: every key. Strings may use ${NAME} for environment",
        "variables ($${ is a literal '${'). JSON Schema: `ao config schema`.",
    ]
    _section(lines, "(top level)", schema, schema.get("$defs", {}), set(), top=True)
    return "\n".join(lines) + "\n"


def _section(
    lines: list[str],
    title: str,
    node: dict[str, t.Any],
    defs: dict[str, t.Any],
    done: set[str],
    top: bool = False,
) -> None:
    """Append one model's keys, then the sections of the models it holds."""
    lines += ["", title]
    if not top and node.get("description"):
        lines.append("  " + _clean(node["description"]))
    rows: list[tuple[str, str, str]] = []
    children: list[tuple[str, dict[str, t.Any]]] = []
    required = set(node.get("required", []))
    for key, prop in node.get("properties", {}).items():
        kind = _kind(prop)
        if key in required:
            kind += ", required"
        elif prop.get("default") not in (None, [], {}):
            kind += f" = {json.dumps(prop['default'])}"
        rows.append((key, kind, _clean(prop.get("description", ""))))
        for suffix, ref in _refs(prop, key):
            name = ref.rsplit("/", 1)[-1]
            if name not in done and name in defs:
                done.add(name)
                children.append((f"{'' if top else title + '.'}{key}{suffix}", defs[name]))
    if node.get("additionalProperties") is True:
        rows.append(("<other keys>", "any", "Passed to the plugin as its options."))
    width = max((len(r[0]) for r in rows), default=0) + 2
    type_width = max((len(r[1]) for r in rows), default=0) + 2
    lines += [f"  {k:<{width}}{ty:<{type_width}}{d}".rstrip() for k, ty, d in rows]
    for child_title, child in children:
        _section(lines, child_title, child, defs, done)


def _clean(text: str) -> str:
    return " ".join(text.replace("``", "`").split())


def _refs(prop: dict[str, t.Any], key: str) -> list[tuple[str, str]]:
    """(section suffix, $ref) of every model a property holds: directly, as items, as values."""
    found: list[tuple[str, str]] = []
    options = prop.get("anyOf", [prop])
    for option in options:
        if "$ref" in option:
            found.append(("", option["$ref"]))
        items = option.get("items", {})
        found += [("[]", item["$ref"]) for item in items.get("anyOf", [items]) if "$ref" in item]
        values = option.get("additionalProperties")
        if isinstance(values, dict) and "$ref" in values:
            found.append((f".{_PLACEHOLDERS.get(key, '<name>')}", values["$ref"]))
    return found


def _kind(prop: dict[str, t.Any]) -> str:
    """A short type name for a property schema: ``list of string``, ``integer >= 1``..."""
    if "$ref" in prop:
        return "mapping"
    if "enum" in prop:
        return "|".join(str(v) for v in prop["enum"])
    if "anyOf" in prop:
        kinds = [_kind(o) for o in prop["anyOf"] if o != {"type": "null"}]
        if "number" in kinds and "integer" in kinds:
            kinds.remove("integer")
        return " or ".join(dict.fromkeys(kinds))
    kind = str(prop.get("type", "any"))
    if kind == "string":
        if prop.get("format") == "path":
            return "path"
        if prop.get("pattern") and re.search(r"\(ms\|s\|m\|h\|d\)", prop["pattern"]):
            return "duration"
    if kind == "array":
        return f"list of {_kind(prop.get('items', {}))}"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"map of {_kind(values)}" if isinstance(values, dict) else "mapping"
    for bound, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")):
        if bound in prop:
            kind += f" {sign} {prop[bound]}"
    return kind


def register(app: typer.Typer) -> None:
    """Add ``ao config ...`` and ``ao config-help`` to ``app``."""
    config_app = typer.Typer(
        name="config",
        help="Check, show, describe and change agent-orchestrator.yaml.",
        rich_markup_mode=None,
        no_args_is_help=True,
    )
    config_app.command("validate")(_validate)
    config_app.command("show")(_show)
    config_app.command("schema")(_schema)
    config_app.command("get")(_get)
    config_app.command("set")(_set)
    config_app.command("unset")(_unset)
    app.add_typer(config_app, name="config")
    app.command("config-help")(_config_help)
