#!/usr/bin/env bash
# Install the agent CLIs that ao's gemini/opencode/pi/aider/kimicode adapters drive, into
# private prefixes inside the repo. Idempotent: a CLI that already runs from its prefix is
# skipped.
#
#   scripts/install-more-agents.sh                 # everything
#   scripts/install-more-agents.sh gemini aider    # only these (gemini, opencode, pi, aider, kimi)
#   AO_AGENTS_PREFIX=/opt/agents/npm AO_AIDER_VENV=/opt/agents/aider-venv scripts/install-more-agents.sh
#   AO_AGENTS_FORCE=1 scripts/install-more-agents.sh   # reinstall (upgrade to the latest)
#
# npm CLIs go to $AO_AGENTS_PREFIX (default <repo>/.agents/npm, shared with
# scripts/install-agents.sh); aider goes to its own venv $AO_AIDER_VENV (default
# <repo>/.agents/aider-venv, ~700 MB: litellm, numpy, scipy, tree-sitter) and is linked
# into $AO_AGENTS_PREFIX/bin. Kimi Code CLI (PyPI kimi-cli, binary `kimi`) likewise goes
# to $AO_KIMI_VENV (default <repo>/.agents/kimi-venv, ~250 MB), made with a Python >= 3.12
# ($AO_KIMI_PYTHON, else python3.13/python3.12/python3 or pyenv's, whichever is new
# enough). Cursor's CLI (`cursor-agent`) is not on npm or PyPI, so it is not installed
# here. Needs: node >= 20 + npm (gemini, opencode, pi), python3 >= 3.10 with venv (aider),
# python >= 3.12 with venv (kimi). Network: the npm registry and PyPI only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
prefix="${AO_AGENTS_PREFIX:-$repo/.agents/npm}"
aider_venv="${AO_AIDER_VENV:-$repo/.agents/aider-venv}"
kimi_venv="${AO_KIMI_VENV:-$repo/.agents/kimi-venv}"
force="${AO_AGENTS_FORCE:-0}"
python="${PYTHON:-python3}"

# a stalled registry download must not hang CI forever
limit() { if command -v timeout >/dev/null 2>&1; then timeout "${AO_AGENTS_TIMEOUT:-1200}" "$@"; else "$@"; fi; }

wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=(gemini opencode pi aider kimi)

# name | npm package spec | binary. Pinned to the versions the adapters were tested
# with (see scripts/install-agents.sh); AO_AGENTS_LATEST=1 takes the newest.
pin() { if [[ "${AO_AGENTS_LATEST:-0}" == "1" ]]; then echo latest; else echo "$1"; fi; }
npm_packages=(
    "gemini|@google/gemini-cli@$(pin 0.61.0)|gemini"
    "opencode|opencode-ai@$(pin 1.18.33)|opencode"
    "pi|@mariozechner/pi-coding-agent@$(pin 0.73.1)|pi"
)
aider_spec="aider-chat==0.86.2"
[[ "${AO_AGENTS_LATEST:-0}" == "1" ]] && aider_spec="aider-chat"
# 1.51.0 is the last release of the Python CLI: 1.52.0 only prints a deprecation notice
# (and, run bare, pipes Kimi's new installer from its CDN into bash), so never above it
kimi_spec="kimi-cli==1.51.0"
[[ "${AO_AGENTS_LATEST:-0}" == "1" ]] && kimi_spec="kimi-cli<1.52"

want() {
    local name="$1" item
    for item in "${wanted[@]}"; do [[ "$item" == "$name" ]] && return 0; done
    return 1
}

installed() {  # installed <path-to-binary>: it exists and prints a version
    [[ "$force" != "1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1
}

mkdir -p "$prefix/bin"
status=0

for entry in "${npm_packages[@]}"; do
    IFS='|' read -r name spec bin <<<"$entry"
    want "$name" || continue
    if installed "$prefix/bin/$bin"; then
        echo "install-more-agents: $bin already installed: $("$prefix/bin/$bin" --version 2>/dev/null | head -n1)"
        continue
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-more-agents: npm is not installed (apt-get install -y nodejs npm)" >&2
        status=1
        continue
    fi
    echo "install-more-agents: installing $spec into $prefix"
    if limit npm install -g --no-fund --no-audit --loglevel=error --prefix "$prefix" "$spec"; then
        echo "install-more-agents: $bin $("$prefix/bin/$bin" --version 2>/dev/null | head -n1)"
    else
        echo "install-more-agents: failed to install $spec" >&2
        status=1
    fi
done

if want aider; then
    if installed "$aider_venv/bin/aider"; then
        echo "install-more-agents: aider already installed: $("$aider_venv/bin/aider" --version 2>/dev/null | head -n1)"
    else
        echo "install-more-agents: installing $aider_spec into $aider_venv"
        if "$python" -m venv "$aider_venv" \
            && limit "$aider_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                --upgrade "$aider_spec"; then
            echo "install-more-agents: aider $("$aider_venv/bin/aider" --version 2>/dev/null | head -n1)"
        else
            echo "install-more-agents: failed to install aider-chat" >&2
            status=1
        fi
    fi
    if [[ -x "$aider_venv/bin/aider" ]]; then
        ln -sfn "$aider_venv/bin/aider" "$prefix/bin/aider"
    fi
fi

# kimi-cli needs Python >= 3.12, and not 3.12.0/3.12.1: their frozen slotted dataclasses
# break its slash commands at start (TypeError: super(type, obj)). Newest first.
kimi_python() {
    local candidate
    for candidate in "${AO_KIMI_PYTHON:-}" python3.13 python3.12 python3 \
        $(ls -d "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/3.1[2-9]* 2>/dev/null \
          | sort -rV | sed 's|$|/bin/python3|'); do
        [[ -n "$candidate" ]] || continue
        if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12, 2))' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# the CLI starts for real (a --version answers even where its commands cannot load)
kimi_works() { [[ -x "$1/bin/python" ]] && "$1/bin/python" -c 'import kimi_cli.ui.shell' >/dev/null 2>&1; }

if want kimi; then
    if installed "$kimi_venv/bin/kimi" && kimi_works "$kimi_venv"; then
        echo "install-more-agents: kimi already installed: $("$kimi_venv/bin/kimi" --version 2>/dev/null | head -n1)"
    elif ! kimi_py="$(kimi_python)"; then
        echo "install-more-agents: kimi-cli needs Python >= 3.12 (set AO_KIMI_PYTHON)" >&2
        status=1
    else
        echo "install-more-agents: installing $kimi_spec into $kimi_venv ($("$kimi_py" --version 2>&1))"
        rm -rf "$kimi_venv"  # one a broken Python made
        if "$kimi_py" -m venv "$kimi_venv" \
            && limit "$kimi_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                --upgrade "$kimi_spec"; then
            echo "install-more-agents: kimi $("$kimi_venv/bin/kimi" --version 2>/dev/null | head -n1)"
            kimi_works "$kimi_venv" || { echo "install-more-agents: kimi-cli does not start" >&2; status=1; }
        else
            echo "install-more-agents: failed to install kimi-cli" >&2
            status=1
        fi
    fi
    if [[ -x "$kimi_venv/bin/kimi" ]]; then
        ln -sfn "$kimi_venv/bin/kimi" "$prefix/bin/kimi"
    fi
fi

echo "install-more-agents: add $prefix/bin to PATH to use them"
exit "$status"
