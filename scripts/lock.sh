#!/usr/bin/env bash
# Refresh requirements.lock: resolve the project with its dev extra (and its build backend)
# from the package index as it is today, in a fresh venv, and pin every version.
#
#   ./scripts/lock.sh            # then review `git diff requirements.lock`, run the tests, commit
#
# scripts/setup.sh (and so CI) installs exactly what the lock names; pyproject.toml keeps the
# ranges that users who `pip install agentenv` get. A new release of a dependency reaches main
# only through this script.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pip_quietly() {  # pip's output only when it fails (this machine's pip settings make it chatty)
    local output
    if ! output=$("$scratch/venv/bin/python" -m pip "$@" 2>&1); then
        grep -v "is ignored: it is neither a file nor a directory" <<<"$output" >&2
        echo "[lock] FAILED: pip $*" >&2
        exit 1
    fi
}
python3 -m venv "$scratch/venv"
pip_quietly install --upgrade pip
# The build backend, and what hatchling asks for to make an editable install (`editables`):
# setup.sh installs the project without build isolation, so nothing is resolved at build time.
read -r -a build_requirements <<<"$(python3 -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))') editables"
pip_quietly install --dry-run --ignore-installed --report "$scratch/report.json" '.[dev]' "${build_requirements[@]}"

python3 - "$scratch/report.json" "$("$scratch/venv/bin/python" -m pip --version | cut -d' ' -f2)" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
pins = sorted(
    (item["metadata"]["name"], item["metadata"]["version"])
    for item in report["install"]
    if item["metadata"]["name"].lower() != "agentenv"
)
lines = [
    "# Exact versions of everything `scripts/setup.sh` installs: the project's dependencies,",
    "# its dev extra and its build backend. Made by scripts/lock.sh (pip " + sys.argv[2] + ",",
    "# Python " + report["environment"]["python_full_version"] + ", " + report["environment"]["sys_platform"] + " " + report["environment"]["platform_machine"] + "); do not edit by hand.",
]
lines += [f"{name}=={version}" for name, version in pins]
open("requirements.lock", "w").write("\n".join(lines) + "\n")
print(f"requirements.lock: {len(pins)} packages pinned", file=sys.stderr)
PY
