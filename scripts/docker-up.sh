#!/usr/bin/env bash
# Start a Docker engine in the background unless one already answers.
#
# Usage: scripts/docker-up.sh            (as root; on Debian: apt-get install docker.io first)
#
# Idempotent: does nothing when `docker info` already succeeds. Otherwise starts dockerd
# with its log in ${PYECS_DOCKERD_LOG:-/var/log/pyecs-dockerd.log} and waits (up to
# ${PYECS_DOCKERD_WAIT:-60} seconds) for /var/run/docker.sock and `docker info` to answer.
set -euo pipefail

log="${PYECS_DOCKERD_LOG:-/var/log/pyecs-dockerd.log}"
wait_s="${PYECS_DOCKERD_WAIT:-60}"
sock=/var/run/docker.sock

engine_answers() {
    timeout 10 docker info >/dev/null 2>&1
}

if engine_answers; then
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker-up: no dockerd on PATH; install it (Debian: apt-get install -y docker.io)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "docker-up: starting dockerd needs root; run: sudo $0" >&2
    exit 1
fi

# A dockerd may be running but still starting: start one only when the pid file names no
# live process (a stale pid file of a dead dockerd would stop a new one from starting).
pidfile=/var/run/docker.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "docker-up: dockerd (pid $(cat "$pidfile")) is starting; waiting for it" >&2
else
    rm -f "$pidfile"
    mkdir -p "$(dirname "$log")"
    echo "docker-up: starting dockerd (log: $log)" >&2
    nohup dockerd >>"$log" 2>&1 </dev/null &
fi

deadline=$((SECONDS + wait_s))
until [ -S "$sock" ] && engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "docker-up: dockerd did not answer within ${wait_s}s; last lines of $log:" >&2
        tail -n 20 "$log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "docker-up: engine ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null))" >&2
