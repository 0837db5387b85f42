#!/usr/bin/env bash
# Install what the GitHub plugin tests need besides the venv's dev dependencies:
# GitHub's published GraphQL schema (npm @octokit/graphql-schema) into a private prefix,
# and graphql-core into the venv if it is missing. Idempotent.
#
#   scripts/install-test-deps.sh                  # into <repo>/.agents/npm-test
#   AO_TEST_DEPS_PREFIX=/opt/ao-test scripts/install-test-deps.sh
#   AO_TEST_DEPS_FORCE=1 scripts/install-test-deps.sh   # reinstall (newest schema)
#
# tests/graphql_schema.py reads <prefix>/node_modules/@octokit/graphql-schema/schema.graphql
# (or $AO_GITHUB_SCHEMA); without it the GitHub tests that need the schema are skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
prefix="${AO_TEST_DEPS_PREFIX:-$repo/.agents/npm-test}"
force="${AO_TEST_DEPS_FORCE:-0}"
python="${PYTHON:-$repo/.venv/bin/python}"
schema="$prefix/node_modules/@octokit/graphql-schema/schema.graphql"
status=0

if ! "$python" -c "import graphql" >/dev/null 2>&1; then
    echo "install-test-deps: installing graphql-core into $("$python" -c 'import sys; print(sys.prefix)')"
    "$python" -m pip install --quiet "graphql-core>=3.2" || status=1
fi

if [[ "$force" != "1" && -s "$schema" ]]; then
    echo "install-test-deps: GitHub GraphQL schema already at $schema"
elif ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm is not installed (apt-get install -y nodejs npm)" >&2
    status=1
else
    mkdir -p "$prefix"
    echo "install-test-deps: installing @octokit/graphql-schema into $prefix"
    if npm install --no-fund --no-audit --loglevel=error --prefix "$prefix" @octokit/graphql-schema; then
        version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$prefix/node_modules/@octokit/graphql-schema/package.json" | head -n1)"
        echo "install-test-deps: @octokit/graphql-schema $version"
    else
        echo "install-test-deps: failed to install @octokit/graphql-schema" >&2
        status=1
    fi
fi
exit "$status"
