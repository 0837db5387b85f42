#!/usr/bin/env bash
# System packages the test suite uses besides the venv and the agent CLIs: tmux and git
# (most tests), zsh and fish (completion scripts), notify-send and dbus-run-session (the
# desktop notifier), npm (agent CLIs, GitHub schema), chromium and chromedriver (the
# dashboard's browser tests), docker.io (the docker runtime's tests), openssh-server (the
# ssh runtime's tests). The same packages .ci/run installs.
#
# Installs the missing ones with apt-get when this user may do so without a password (root,
# or `sudo -n`); otherwise it says which tests will be skipped and the command that gets
# them. It never prompts and never fails: `make test` runs on whatever the machine has.
#
#   scripts/install-system-test-deps.sh            # install what is missing, if allowed
#   scripts/install-system-test-deps.sh --dry-run  # print what it would run; change nothing
#   scripts/install-system-test-deps.sh --check    # only report what is missing (end of `make test`)
#   AO_SYSTEM_DEPS=0 make test                     # never run apt-get
set -euo pipefail

mode=install
case "${1:-}" in
    "") ;;
    --dry-run) mode=dry-run ;;
    --check) mode=check ;;
    *)
        echo "usage: $0 [--dry-run | --check]" >&2
        exit 2
        ;;
esac
me="install-system-test-deps"

# command | apt package(s) | what is skipped or fails without it
deps=(
    "tmux|tmux|most tests: sessions run in tmux (they fail without it)"
    "git|git|most tests: worktrees, branches (they fail without it)"
    "zsh|zsh|zsh completion tests (tests/test_completion.py)"
    "fish|fish|fish completion tests (tests/test_completion.py)"
    "notify-send|libnotify-bin|desktop notifier tests (tests/test_notifiers.py)"
    "dbus-run-session|dbus|desktop notifier tests (tests/test_notifiers.py)"
    "npm|nodejs npm|agent CLI tests (tests/agents) and GitHub schema tests"
    "chromium|chromium fonts-liberation|the dashboard's browser tests (tests/test_web_page.py, tests/agents/test_web_codex.py)"
    "chromedriver|chromium-driver|the dashboard's browser tests (Selenium drives Chromium through it)"
    "dockerd|docker.io|the docker runtime's tests (tests/test_runtime_docker.py; scripts/start-test-services.sh starts the engine)"
    "/usr/sbin/sshd|openssh-server|the ssh runtime's tests (tests/test_runtime_ssh*.py start their own sshd on loopback)"
)

missing_tools=()
missing_packages=()
missing_notes=()
find_missing() {
    missing_tools=()
    missing_packages=()
    missing_notes=()
    local entry tool packages note split
    for entry in "${deps[@]}"; do
        IFS='|' read -r tool packages note <<<"$entry"
        command -v "$tool" >/dev/null 2>&1 && continue
        missing_tools+=("$tool")
        read -r -a split <<<"$packages"
        missing_packages+=("${split[@]}")
        missing_notes+=("$tool: $note")
    done
}

# a stalled mirror must not hang `make test`
limit() { if command -v timeout >/dev/null 2>&1; then timeout "${AO_SYSTEM_DEPS_TIMEOUT:-600}" "$@"; else "$@"; fi; }

# how this user runs apt-get without a password: "" (root), "sudo -n", or "none"
root_prefix() {
    if [[ "$(id -u)" == 0 ]]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        echo "sudo -n"
    else
        echo none
    fi
}

find_missing
if [[ ${#missing_tools[@]} -eq 0 ]]; then
    [[ "$mode" == check ]] || echo "$me: all present (tmux git zsh fish notify-send dbus-run-session npm chromium chromedriver dockerd sshd)"
    exit 0
fi

if [[ "$mode" != check ]]; then
    why=""
    if [[ "${AO_SYSTEM_DEPS:-1}" == 0 ]]; then
        why="AO_SYSTEM_DEPS=0"
    elif ! command -v apt-get >/dev/null 2>&1; then
        why="no apt-get on this machine"
    elif as_root="$(root_prefix)" && [[ "$as_root" == none ]]; then
        why="not root, and sudo needs a password (or is not installed)"
    fi
    if [[ -n "$why" ]]; then
        echo "$me: not installing ${missing_packages[*]}: $why"
    else
        read -r -a sudo_argv <<<"$as_root"
        apt=("${sudo_argv[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120)
        install_cmd=("${apt[@]}" install -y -qq --no-install-recommends "${missing_packages[@]}")
        if [[ "$mode" == dry-run ]]; then
            echo "$me: would run: ${install_cmd[*]}"
            echo "$me: and, if that fails (stale package lists): ${apt[*]} update -qq, then the install again"
            exit 0
        fi
        echo "$me: installing ${missing_packages[*]} (apt-get)"
        if ! limit "${install_cmd[@]}" >/dev/null; then
            echo "$me: retrying after apt-get update"
            limit "${apt[@]}" update -qq >/dev/null || true
            limit "${install_cmd[@]}" >/dev/null || echo "$me: apt-get install failed" >&2
        fi
        find_missing
        if [[ ${#missing_tools[@]} -eq 0 ]]; then
            echo "$me: installed; all present"
            exit 0
        fi
    fi
fi

# what is still missing: which tests will not run, and how to get them
if [[ "$mode" == check ]]; then
    echo
    echo "Skipped because system tools are missing (pytest lists each test above as SKIPPED):"
else
    echo "$me: missing, so these tests will be skipped (pytest lists them as SKIPPED):"
fi
for note in "${missing_notes[@]}"; do echo "  - $note"; done
if command -v apt-get >/dev/null 2>&1; then
    sudo_word="sudo "
    [[ "$(id -u)" == 0 ]] && sudo_word=""
    echo "To run them: ${sudo_word}apt-get update && ${sudo_word}apt-get install -y ${missing_packages[*]}"
    if [[ -n "$sudo_word" ]]; then
        echo "then make test again (make test installs them itself when run as root or with passwordless sudo)."
    else
        echo "then make test again."
    fi
else
    echo "To run them: install ${missing_tools[*]} with this system's package manager, then run make test again."
fi
exit 0
