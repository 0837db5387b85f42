#!/usr/bin/env bash
# Install the agent CLIs that ao's `agents` tests drive (Claude Code, Codex) into a private
# npm prefix. Idempotent: a CLI that is already installed there is skipped.
#
#   scripts/install-agents.sh            # both CLIs into <repo>/.agents/npm
#   AO_AGENTS_PREFIX=/opt/agents scripts/install-agents.sh
#   AO_AGENTS_FORCE=1 scripts/install-agents.sh   # reinstall (upgrade to the latest)
#
# Then put "$AO_AGENTS_PREFIX/bin" on PATH (tests/agents/conftest.py does it for the tests).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
prefix="${AO_AGENTS_PREFIX:-$repo/.agents/npm}"
force="${AO_AGENTS_FORCE:-0}"

if ! command -v npm >/dev/null 2>&1; then
    echo "install-agents: npm is not installed (apt-get install -y nodejs npm)" >&2
    exit 1
fi
mkdir -p "$prefix"

# package spec | binary it provides. Versions are pinned to those the adapters were
# tested with, so an upstream release cannot turn CI red overnight; AO_AGENTS_LATEST=1
# takes the newest instead (then `ao doctor --agents` tells whether ao still reads them).
# An explicit version also matters for claude-code: from 2.1.198 on it declares
# engines.node >= 22, and with an older node npm would silently pick 2.1.197. The CLI
# is a native binary and runs fine on node 20 (npm only prints an EBADENGINE warning).
pin() { if [[ "${AO_AGENTS_LATEST:-0}" == "1" ]]; then echo latest; else echo "$1"; fi; }
packages=(
    "@anthropic-ai/claude-code@$(pin 2.1.330)|claude"
    "@openai/codex@$(pin 0.169.0)|codex"
)

status=0
for entry in "${packages[@]}"; do
    spec="${entry%%|*}"
    bin="${entry##*|}"
    if [[ "$force" != "1" && -x "$prefix/bin/$bin" ]] && "$prefix/bin/$bin" --version >/dev/null 2>&1; then
        echo "install-agents: $bin already installed: $("$prefix/bin/$bin" --version 2>/dev/null | head -n1)"
        continue
    fi
    echo "install-agents: installing $spec into $prefix"
    if npm install -g --no-fund --no-audit --loglevel=error --prefix "$prefix" "$spec"; then
        echo "install-agents: $bin $("$prefix/bin/$bin" --version 2>/dev/null | head -n1)"
    else
        echo "install-agents: failed to install $spec" >&2
        status=1
    fi
done
echo "install-agents: add $prefix/bin to PATH to use them"
exit "$status"
