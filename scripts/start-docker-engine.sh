#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent: uses a running engine if `docker info`
# answers; otherwise (root, Debian) installs docker.io and starts dockerd without a bridge or
# iptables (this machine has neither a registry nor a network to offer containers anyway).
# Exits non-zero, loudly, if no engine answers in the end.
set -euo pipefail

log() { echo "[docker-engine] $*" >&2; }
engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
    log "engine already running"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "no Docker engine answers and this script is not root: start one yourself"
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    log "installing docker.io and debootstrap from Debian's archive"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
fi

start_dockerd() {
    local driver="$1"
    log "starting dockerd (storage driver $driver)"
    nohup dockerd --storage-driver="$driver" --iptables=false --ip6tables=false --bridge=none \
        >"${AGENTENV_DOCKERD_LOG:-/var/log/agentenv-dockerd.log}" 2>&1 &
    for _ in $(seq 1 60); do
        if engine_answers; then
            log "engine up ($driver)"
            return 0
        fi
        if ! kill -0 $! 2>/dev/null; then
            break
        fi
        sleep 1
    done
    kill $! 2>/dev/null || true
    wait $! 2>/dev/null || true
    return 1
}

# A dockerd may be starting already (another caller); give it a moment before starting ours.
if pgrep -x dockerd >/dev/null 2>&1; then
    for _ in $(seq 1 30); do engine_answers && exit 0; sleep 1; done
    log "a dockerd process exists but does not answer; stopping it"
    pkill -x dockerd || true
    sleep 2
fi

rm -f /var/run/docker.pid
start_dockerd overlay2 || start_dockerd vfs || {
    log "FAILED: no Docker engine answers; see ${AGENTENV_DOCKERD_LOG:-/var/log/agentenv-dockerd.log}"
    tail -20 "${AGENTENV_DOCKERD_LOG:-/var/log/agentenv-dockerd.log}" >&2 || true
    exit 1
}
