"""Hand the host's pip settings to a build container.

A build container reaches the package index only the way the host does: the same index URLs,
the same CA bundle. Settings come from `PIP_*` variables and `pip config list`; every local file
they name (a CA bundle, a file:// index, a find-links folder) is mounted read-only at the same
path, so the settings mean the same thing inside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from docker.types import Mount

# pip config keys worth passing; everything else (e.g. user-specific cache dirs) stays home.
_KEYS = {
    "index-url",
    "extra-index-url",
    "find-links",
    "trusted-host",
    "cert",
    "client-cert",
    "constraint",
    "default-timeout",
    "retries",
    "timeout",
}


@dataclass
class PipPassthrough:
    environment: dict[str, str] = field(default_factory=dict)
    # paths named by the settings; each is mounted read-only at the same path inside
    mounts: list[str] = field(default_factory=list)

    def docker_mounts(self) -> list[Mount]:
        # Mounts, not `volumes=`: docker-py also declares those as image volumes, which a
        # committed image would keep (and later runs would try to mount over its files).
        return [
            Mount(target=path, source=os.path.realpath(path), type="bind", read_only=True)
            for path in self.mounts
        ]


def _env_name(key: str) -> str:
    return "PIP_" + key.upper().replace("-", "_")


def _host_pip_config() -> dict[str, str]:
    """`pip config list` as {key: value}; later scopes (site, env vars) override earlier ones."""
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    settings: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, value = line.partition("=")
        key = name.rsplit(".", 1)[-1]
        if key in _KEYS and value:
            settings[key] = value.strip().strip("'\"")
    return settings


def _local_paths(value: str) -> list[str]:
    paths = []
    for item in value.split():
        if item.startswith("file://"):
            item = unquote(urlparse(item).path).rstrip("/")
            # A local index's pages link to files beside its folder (../files/x.whl).
            item = os.path.dirname(item) or item
        if os.path.isabs(item) and os.path.exists(item):
            paths.append(item)
    return paths


def host_pip_passthrough() -> PipPassthrough:
    settings = _host_pip_config()
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            key = name[4:].lower().replace("_", "-")
            if key in _KEYS:
                settings[key] = value
    passthrough = PipPassthrough()
    for key, value in settings.items():
        passthrough.environment[_env_name(key)] = value
        for path in _local_paths(value):
            if path not in passthrough.mounts:
                passthrough.mounts.append(path)
    return passthrough
