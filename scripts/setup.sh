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
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[dev]'

if [ "$have_engine" = 1 ]; then
    .venv/bin/agentenv image build-base
fi
