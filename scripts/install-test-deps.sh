#!/usr/bin/env bash
# Install what the tests need besides the venv's dev dependencies, into a private prefix:
# GitHub's published GraphQL schema (npm @octokit/graphql-schema) for the GitHub plugin
# tests, and graphql-core into the venv if it is missing; ESLint (npm eslint, a pinned
# version) for the eslint parser of `ao fix`. Idempotent.
#
#   scripts/install-test-deps.sh                  # into <repo>/.agents/npm-test
#   AO_TEST_DEPS_PREFIX=/opt/ao-test scripts/install-test-deps.sh
#   AO_TEST_DEPS_FORCE=1 scripts/install-test-deps.sh   # reinstall (newest schema)
#   AO_ESLINT_VERSION=10.16.0 scripts/install-test-deps.sh   # another ESLint
#
# tests/graphql_schema.py reads <prefix>/node_modules/@octokit/graphql-schema/schema.graphql
# (or $AO_GITHUB_SCHEMA); without it the GitHub tests that need the schema are skipped.
# tests/test_fix_checks.py runs <prefix>/node_modules/.bin/eslint (or $AO_ESLINT); without
# it the eslint tests are skipped.
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

# 9.x: the newest line that still runs on node 18.18 (10.x needs node >= 20.19)
eslint_version="${AO_ESLINT_VERSION:-9.39.5}"
eslint_manifest="$prefix/node_modules/eslint/package.json"
eslint_installed=""
if [[ -s "$eslint_manifest" ]]; then
    eslint_installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$eslint_manifest" | head -n1)"
fi
if [[ "$force" != "1" && "$eslint_installed" == "$eslint_version" ]]; then
    echo "install-test-deps: eslint $eslint_version already in $prefix"
elif ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm is not installed (apt-get install -y nodejs npm)" >&2
    status=1
else
    mkdir -p "$prefix"
    echo "install-test-deps: installing eslint@$eslint_version into $prefix"
    if npm install --no-fund --no-audit --loglevel=error --save-exact --prefix "$prefix" "eslint@$eslint_version"; then
        echo "install-test-deps: eslint $("$prefix/node_modules/.bin/eslint" --version 2>/dev/null | head -n1)"
    else
        echo "install-test-deps: failed to install eslint@$eslint_version" >&2
        status=1
    fi
fi
exit "$status"
