"""GitHub's published GraphQL schema, for validating (and executing) every query ao sends.

The schema comes from the npm package ``@octokit/graphql-schema``, which
``scripts/install-test-deps.sh`` installs into ``<repo>/.agents/npm-test`` (or set
``AO_GITHUB_SCHEMA`` to a ``schema.graphql``). graphql-core (a dev dependency) parses it
once per test process.

GitHub's SDL trips two of graphql-core's strict schema checks (a field defined twice on
``EnterpriseOwnerInfo``, deprecation mismatches between interfaces and implementations),
so the SDL is built with ``assume_valid_sdl`` and the schema-level validation errors are
cleared; query validation against the schema is unaffected.
"""

from __future__ import annotations

import functools
import os
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    import graphql

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = (
    REPO_ROOT / ".agents" / "npm-test" / "node_modules" / "@octokit" / "graphql-schema"
    / "schema.graphql"
)  # fmt: skip
INSTALL_HINT = "run scripts/install-test-deps.sh (npm @octokit/graphql-schema, pip graphql-core)"


def schema_path() -> Path:
    """Where the schema file is expected."""
    env = os.environ.get("AO_GITHUB_SCHEMA")
    return Path(env) if env else DEFAULT_PATH


def available() -> str | None:
    """None when the schema can be loaded, else why not."""
    try:
        import graphql  # noqa: F401
    except ImportError:
        return f"graphql-core is not installed ({INSTALL_HINT})"
    if not schema_path().is_file():
        return f"GitHub's GraphQL schema is not at {schema_path()} ({INSTALL_HINT})"
    return None


@functools.cache
def load() -> graphql.GraphQLSchema:
    """Build GitHub's schema (about a second; cached for the process)."""
    import graphql

    sdl = schema_path().read_text(encoding="utf-8")
    schema = graphql.build_schema(sdl, assume_valid_sdl=True)
    schema._validation_errors = []  # see the module docstring
    return schema


def validate(query: str) -> list[str]:
    """Messages of every way ``query`` does not fit GitHub's schema (empty: valid)."""
    import graphql

    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as exc:
        return [f"syntax: {exc.message}"]
    return [e.message for e in graphql.validate(load(), document)]
