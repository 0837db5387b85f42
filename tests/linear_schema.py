"""Linear's published GraphQL schema, for validating every query the Linear plugin sends.

Linear publishes no ``.graphql`` file on npm. Its official SDK, ``@linear/sdk`` (installed
by ``scripts/install-linear-schema.sh`` into ``<repo>/.agents/npm-test``, pinned), ships
the TypeScript types that graphql-codegen's ``typescript`` plugin generated from the
schema: one type per object, interface, input and field-argument list, one enum per
enum, one alias per union, with nullability (``Maybe``/``InputMaybe``) and lists
(``Array``) kept. ``sdl_from_typescript`` turns them back into SDL; the rebuilt schema is
checked against the SDK's own ~1300 GraphQL documents (``python -m tests.linear_schema
--check``), which Linear's build validated against the real one. Default values of
arguments are not in the types, so an argument with a default is rebuilt as nullable
(at worst a little lenient). ``AO_LINEAR_SCHEMA`` may name an SDL file instead (e.g.
``packages/sdk/src/schema.graphql`` of Linear's repository); ``AO_LINEAR_SDK_DIR`` the
package directory.

The interface mirrors ``tests/graphql_schema.py``: ``available``, ``load``, ``validate``;
plus ``validate_variables``, which coerces variables against the input types as a real
server does before executing.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    import graphql

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SDK_DIR = REPO_ROOT / ".agents" / "npm-test" / "node_modules" / "@linear" / "sdk"
INSTALL_HINT = "run scripts/install-linear-schema.sh (npm @linear/sdk, pip graphql-core)"
BUILTIN_SCALARS = {"ID", "String", "Boolean", "Int", "Float"}

_ENUM_START = re.compile(r"^(?:export )?(?:declare )?enum (\w+) \{$")
_TYPE_START = re.compile(r"^(?:export )?(?:declare )?type (\w+) = (.*)$")
_FIELD = re.compile(r"^  \"?(\w+)\"?(\?)?: (.+);$")
_ENUM_VALUE = re.compile(r"^  \w+ = \"(\w+)\",?$")


def sdk_dir() -> Path:
    """Where ``@linear/sdk`` is expected."""
    env = os.environ.get("AO_LINEAR_SDK_DIR")
    return Path(env) if env else DEFAULT_SDK_DIR


@functools.cache
def schema_path() -> Path:
    """The file the schema is read from: ``$AO_LINEAR_SCHEMA`` or the SDK's type file."""
    env = os.environ.get("AO_LINEAR_SCHEMA")
    if env:
        return Path(env)
    dist = sdk_dir() / "dist"
    candidates = sorted(dist.glob("*.d.mts")) + sorted(dist.glob("*.d.ts")) if dist.is_dir() else []
    for path in sorted(candidates, key=lambda p: -p.stat().st_size):
        with path.open(encoding="utf-8") as fh:
            if any(re.match(r"(?:export )?(?:declare )?type Scalars = \{", ln) for ln in fh):
                return path
    return dist / "index.d.mts"


def sdk_version() -> str:
    """The installed ``@linear/sdk`` version, or ``?``."""
    try:
        return str(json.loads((sdk_dir() / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def available() -> str | None:
    """None when the schema can be loaded, else why not."""
    try:
        import graphql  # noqa: F401
    except ImportError:
        return f"graphql-core is not installed ({INSTALL_HINT})"
    if not schema_path().is_file():
        return f"Linear's GraphQL schema (@linear/sdk) is not at {sdk_dir()} ({INSTALL_HINT})"
    return None


# ----------------------------------------------------------------------------- TS → SDL


def _ts_type(expr: str) -> str:
    """A codegen TypeScript type expression as an SDL type (``Maybe<Array<X>>`` → ``[X!]``)."""
    expr = expr.strip()
    if m := re.fullmatch(r"(?:Input)?Maybe<(.*)>", expr):
        return _ts_type(m.group(1)).removesuffix("!")
    if m := re.fullmatch(r"Array<(.*)>", expr):
        return f"[{_ts_type(m.group(1))}]!"
    if m := re.fullmatch(r"Scalars\[\"(\w+)\"\](?:\[\"(?:input|output)\"\])?", expr):
        return f"{m.group(1)}!"
    if re.fullmatch(r"\w+", expr):
        return f"{expr}!"
    raise ValueError(f"unexpected TypeScript type {expr!r}")


class _Decl(t.NamedTuple):
    kind: str  # "object" (has __typename), "plain" (input/interface/args), "enum", "union"
    parents: tuple[str, ...]  # interfaces of an object or interface
    fields: list[tuple[str, str, str | None]]  # name, SDL type, deprecation reason


def _deprecation(doc: list[str]) -> str | None:
    text = " ".join(ln.strip().lstrip("/*").strip() for ln in doc)
    m = re.search(r"@deprecated\s*(.*?)\s*(?:\*/)?$", text)
    return (m.group(1).strip() or "No longer supported") if m else None


def _parse(text: str) -> tuple[set[str], dict[str, _Decl]]:
    """Scalars and declarations of the schema part of a codegen ``typescript`` output."""
    lines = text.splitlines()
    scalars: set[str] = set()
    decls: dict[str, _Decl] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if m := _ENUM_START.match(line):
            values: list[tuple[str, str, str | None]] = []
            doc: list[str] = []
            while i < len(lines) and lines[i] != "}":
                ln = lines[i]
                i += 1
                if ln.strip().startswith(("/**", "*")):
                    doc.append(ln)
                elif v := _ENUM_VALUE.match(ln):
                    values.append((v.group(1), "", _deprecation(doc)))
                    doc = []
            decls[m.group(1)] = _Decl("enum", (), values)
            continue
        m = _TYPE_START.match(line)
        if not m:
            continue
        name, rest = m.group(1), m.group(2)
        if name == "Scalars" and rest == "{":
            while lines[i] != "};":
                if s := re.match(r"^  (\w+): ", lines[i]):
                    scalars.add(s.group(1))
                i += 1
            continue
        if re.fullmatch(r"\w+( \| \w+)+;", rest):
            decls[name] = _Decl("union", (), [(n, "", None) for n in rest[:-1].split(" | ")])
            continue
        if not re.fullmatch(r"(\w+ & )*\{", rest):
            continue  # a helper generic (Maybe, Exact…)
        if lines[i].startswith("  __typename: "):
            break  # the operation and fragment types of typescript-operations start here
        parents = tuple(p for p in rest[:-1].split(" & ") if p)
        fields: list[tuple[str, str, str | None]] = []
        kind, doc = "plain", []
        while lines[i] != "};":
            ln = lines[i]
            i += 1
            if ln.startswith("  __typename?: "):
                kind = "object" if ln == f'  __typename?: "{name}";' else "plain"
            elif ln.strip().startswith(("/**", "*")):
                doc.append(ln)
            elif f := _FIELD.match(ln):
                sdl = _ts_type(f.group(3))
                fields.append((f.group(1), sdl.removesuffix("!") if f.group(2) else sdl,
                               _deprecation(doc)))  # fmt: skip
                doc = []
            else:
                raise ValueError(f"unexpected line in {name}: {ln!r}")
        i += 1
        decls[name] = _Decl(kind, parents, fields)
    return scalars - BUILTIN_SCALARS, decls


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def sdl_from_typescript(text: str) -> str:
    """Rebuild SDL from graphql-codegen ``typescript`` plugin output (see the module doc)."""
    scalars, decls = _parse(text)
    interfaces = {p for d in decls.values() for p in d.parents}
    plain = {_norm(n): n for n, d in decls.items() if d.kind == "plain" and n not in interfaces}
    args_of: dict[tuple[str, str], str] = {}
    for name, d in decls.items():
        if d.kind == "object" or name in interfaces:
            for field, _, _ in d.fields:
                found = plain.get(_norm(f"{name}{field}Args"))
                if found:
                    args_of[name, field] = found
    used_as_args = set(args_of.values())

    def deprecated(reason: str | None) -> str:
        return f" @deprecated(reason: {json.dumps(reason)})" if reason else ""

    def field_list(name: str, d: _Decl, with_args: bool) -> str:
        out = []
        for field, sdl, reason in d.fields:
            args = ""
            if with_args and (name, field) in args_of:
                arg_decl = decls[args_of[name, field]]
                args = "(" + ", ".join(f"{a}: {s}" for a, s, _ in arg_decl.fields) + ")"
            out.append(f"  {field}{args}: {sdl}{deprecated(reason)}")
        return "\n".join(out) if out else "  _empty: Boolean"

    parts = [f"scalar {s}" for s in sorted(scalars)]
    for name, d in decls.items():
        implements = f" implements {' & '.join(d.parents)}" if d.parents else ""
        if d.kind == "enum":
            body = "\n".join(f"  {v}{deprecated(r)}" for v, _, r in d.fields)
            parts.append(f"enum {name} {{\n{body}\n}}")
        elif d.kind == "union":
            parts.append(f"union {name} = {' | '.join(n for n, _, _ in d.fields)}")
        elif d.kind == "object":
            parts.append(f"type {name}{implements} {{\n{field_list(name, d, True)}\n}}")
        elif name in interfaces:
            parts.append(f"interface {name}{implements} {{\n{field_list(name, d, True)}\n}}")
        elif name not in used_as_args:
            parts.append(f"input {name} {{\n{field_list(name, d, False)}\n}}")
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- schema


@functools.cache
def sdl() -> str:
    """The schema as SDL text."""
    text = schema_path().read_text(encoding="utf-8")
    return text if schema_path().suffix in (".graphql", ".gql") else sdl_from_typescript(text)


@functools.cache
def load() -> graphql.GraphQLSchema:
    """Build Linear's schema (about a second; cached for the process)."""
    import graphql

    return graphql.build_schema(sdl())


def validate(query: str) -> list[str]:
    """Messages of every way ``query`` does not fit Linear's schema (empty: valid)."""
    import graphql

    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as exc:
        return [f"syntax: {exc.message}"]
    return [e.message for e in graphql.validate(load(), document)]


def validate_variables(
    query: str, variables: t.Mapping[str, t.Any], operation: str | None = None
) -> list[str]:
    """Messages of every way ``variables`` do not fit the operation's variable types."""
    import graphql
    from graphql.execution.values import get_variable_values

    document = graphql.parse(query)
    ops = [d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    op = next((o for o in ops if operation is None or (o.name and o.name.value == operation)), None)
    if op is None:
        return [f"no operation {operation!r} in the document"]
    result = get_variable_values(load(), op.variable_definitions or (), dict(variables))
    return [e.message for e in result] if isinstance(result, list) else []


def sdk_documents() -> list[str]:
    """Every GraphQL document of ``@linear/sdk`` (validated by Linear against the real schema)."""
    text = (sdk_dir() / "dist" / "index.mjs").read_text(encoding="utf-8")
    return re.findall(r"new TypedDocumentString\(`(.*?)`", text, flags=re.S)


def check_sdk_documents(documents: t.Sequence[str]) -> list[tuple[str, str]]:
    """(document head, first error) of each SDK document the rebuilt schema rejects.

    Two rules do not apply to the SDK's documents: many are lone fragments (unused by
    definition), and five select differently typed fields of the same name on sibling
    union members (``AiConversation*``), which graphql-js tolerates in codegen but the
    spec's overlap rule does not, whatever the schema.
    """
    import graphql
    from graphql.validation import (
        NoUnusedFragmentsRule,
        OverlappingFieldsCanBeMergedRule,
        specified_rules,
    )

    skip = (NoUnusedFragmentsRule, OverlappingFieldsCanBeMergedRule)
    rules = [r for r in specified_rules if r not in skip]
    bad = []
    for doc in documents:
        errors = graphql.validate(load(), graphql.parse(doc), rules)
        if errors:
            bad.append((" ".join(doc.split())[:80], errors[0].message))
    return bad


def main(argv: list[str]) -> int:
    """``--check``: rebuild the schema and validate the SDK's documents; ``--sdl``: print it."""
    if reason := available():
        print(f"linear-schema: {reason}", file=sys.stderr)
        return 1
    if "--sdl" in argv:
        sys.stdout.write(sdl())
        return 0
    import graphql

    schema = load()
    problems = [e.message for e in graphql.validate_schema(schema)]
    docs = sdk_documents()
    bad = check_sdk_documents(docs)
    for message in problems[:10]:
        print(f"linear-schema: schema: {message}", file=sys.stderr)
    for head, error in bad[:10]:
        print(f"linear-schema: {head}: {error}", file=sys.stderr)
    print(f"linear-schema: @linear/sdk {sdk_version()}: {len(schema.type_map)} types, "
          f"{len(problems)} schema problems; {len(docs) - len(bad)}/{len(docs)} SDK documents "
          "validate")  # fmt: skip
    return 1 if problems or bad or not docs else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
