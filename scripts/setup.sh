#!/usr/bin/env bash
# Set up a fresh machine: a Docker engine (if one can be started), the project's venv with
# its dev dependencies, and the base image. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ./scripts/start-docker-engine.sh; then
    have_engine=1
else
    have_engine=0
    echo "[setup] no Docker engine: the demo will use the local runtime; Docker tests will fail" >&2
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# Exactly the versions of requirements.lock (refreshed on purpose by scripts/lock.sh), then
# the project itself on top, without letting pip resolve anything again.
# pip's output is shown only when it fails (this machine's pip settings make it chatty).
pip_quietly() {
    local output
    if ! output=$(.venv/bin/python -m pip "$@" 2>&1); then
        grep -v "is ignored: it is neither a file nor a directory" <<<"$output" >&2
        echo "[setup] FAILED: pip $*" >&2
        return 1
    fi
}
pip_quietly install -r requirements.lock
pip_quietly install --no-deps --no-build-isolation -e .
pip_quietly check

if [ "$have_engine" = 1 ]; then
    .venv/bin/agentenv image build-base
fi
