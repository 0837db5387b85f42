#!/usr/bin/env bash
# Start the system services some tests use, when they are installed but not running:
# the Docker engine (tests/test_runtime_docker.py). It only starts what this user may
# start (root); it never fails: a test whose service is missing is skipped with the reason
# (the engine's log is in $AO_DOCKERD_LOG).
#
#   scripts/start-test-services.sh
set -uo pipefail
me="start-test-services"
log="${AO_DOCKERD_LOG:-/tmp/ao-test-dockerd.log}"

if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
    if timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
        echo "$me: the Docker engine is running"
    elif [[ "$(id -u)" != 0 ]]; then
        echo "$me: not starting dockerd: not root (the docker runtime's tests will be skipped)"
    else
        nohup setsid dockerd >"$log" 2>&1 </dev/null &
        for _ in $(seq 1 60); do
            timeout 5 docker version >/dev/null 2>&1 && break
            sleep 0.5
        done
        if timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
            echo "$me: started dockerd (log: $log)"
        else
            echo "$me: dockerd did not start (the docker runtime's tests will be skipped); its log ends:"
            tail -5 "$log" | sed 's/^/  /'
        fi
    fi
fi
exit 0
