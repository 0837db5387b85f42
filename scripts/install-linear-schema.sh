#!/usr/bin/env bash
# Install what the Linear plugin tests need: Linear's official SDK (npm @linear/sdk, a
# pinned version) into a private prefix. Idempotent: nothing happens when that version
# is already there.
#
#   scripts/install-linear-schema.sh                   # into <repo>/.agents/npm-test
#   AO_TEST_DEPS_PREFIX=/opt/ao-test scripts/install-linear-schema.sh
#   AO_LINEAR_SDK_VERSION=98.0.0 scripts/install-linear-schema.sh   # another version
#   AO_LINEAR_SCHEMA_CHECK=1 scripts/install-linear-schema.sh       # re-run the check
#
# Linear publishes no .graphql file on npm: @linear/sdk ships the TypeScript types that
# graphql-codegen generated from Linear's schema, and the SDK's own ~1300 GraphQL
# documents. tests/linear_schema.py rebuilds the schema (SDL) from those types and
# checks it against the SDK's documents; this script runs that check (~15 s) after
# installing, or when asked. Without the package the Linear tests fail (not skip).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
prefix="${AO_TEST_DEPS_PREFIX:-$repo/.agents/npm-test}"
version="${AO_LINEAR_SDK_VERSION:-98.0.0}"
python="${PYTHON:-$repo/.venv/bin/python}"
manifest="$prefix/node_modules/@linear/sdk/package.json"

installed=""
if [[ -s "$manifest" ]]; then
    installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$manifest" | head -n1)"
fi

check="${AO_LINEAR_SCHEMA_CHECK:-0}"
if [[ "$installed" == "$version" ]]; then
    echo "install-linear-schema: @linear/sdk $version already in $prefix"
else
    check=1
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-linear-schema: npm is not installed (apt-get install -y nodejs npm)" >&2
        exit 1
    fi
    mkdir -p "$prefix"
    echo "install-linear-schema: installing @linear/sdk@$version into $prefix"
    npm install --no-fund --no-audit --loglevel=error --save-exact --prefix "$prefix" \
        "@linear/sdk@$version"
fi

if ! "$python" -c "import graphql" >/dev/null 2>&1; then
    echo "install-linear-schema: installing graphql-core into the venv"
    "$python" -m pip install --quiet "graphql-core>=3.2"
fi

# Rebuild the schema and validate the SDK's own documents against it.
if [[ "$check" == "1" ]]; then
    cd "$repo"
    AO_LINEAR_SDK_DIR="$prefix/node_modules/@linear/sdk" "$python" -m tests.linear_schema --check
fi
