"""Hand the host's pip settings to the commands of a build, and to nothing else.

A build container reaches the package index only the way the host does: the same index URLs,
the same CA bundle. Settings come from `PIP_*` variables and `pip config list`. They reach a
build as the environment of each install command, never as the container's environment (a
commit would copy that into the image). Every local file they name (a CA bundle, a file://
index, a find-links folder) is mounted read-only under `BUILD_MOUNTS`, inside the `/dev` tmpfs
Docker gives every container: a mount point made anywhere else would stay in the committed
image as an empty file or folder. The settings are rewritten to name the mounted copies.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlparse

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
BUILD_MOUNTS = "/dev/agentenv-build"
# Set for every install command: a build leaves no pip cache in the image and asks the index
# nothing it does not need.
BUILD_ONLY_SETTINGS = {"PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@dataclass
class PipPassthrough:
    # the settings as install commands see them (paths rewritten to the mounted copies)
    environment: dict[str, str] = field(default_factory=dict)
    # host path -> where it is mounted (read-only) in the build container
    mounts: dict[str, str] = field(default_factory=dict)

    def docker_mounts(self) -> list[Mount]:
        # Mounts, not `volumes=`: docker-py also declares those as image volumes, which a
        # committed image would keep (and later runs would try to mount over its files).
        return [
            Mount(target=target, source=os.path.realpath(source), type="bind", read_only=True)
            for source, target in self.mounts.items()
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


def _local_path(item: str) -> str | None:
    """The local path a setting's item names (a path or a file:// URL), if any."""
    if item.startswith("file://"):
        return unquote(urlparse(item).path).rstrip("/") or "/"
    return item if os.path.isabs(item) else None


def _paths_to_mount(value: str) -> list[str]:
    paths = []
    for item in value.split():
        path = _local_path(item)
        if path is None:
            continue
        if item.startswith("file://"):
            # A local index's pages link to files beside its folder (../files/x.whl).
            path = os.path.dirname(path) or path
        if os.path.exists(path):
            paths.append(path)
    return paths


def _translate(path: str, mounts: dict[str, str]) -> str:
    """`path` as the build container sees it: under the deepest mounted folder that holds it."""
    holders = [
        source for source in mounts if path == source or path.startswith(source.rstrip("/") + "/")
    ]
    if not holders:
        return path
    source = max(holders, key=len)
    return mounts[source] + path[len(source) :]


def _rewrite(value: str, mounts: dict[str, str]) -> str:
    items = []
    for item in value.split():
        path = _local_path(item)
        if path is None or not mounts:
            items.append(item)
        elif item.startswith("file://"):
            items.append("file://" + quote(_translate(path, mounts)))
        else:
            items.append(_translate(path, mounts))
    return " ".join(items)


def host_pip_passthrough() -> PipPassthrough:
    settings = _host_pip_config()
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            key = name[4:].lower().replace("_", "-")
            if key in _KEYS:
                settings[key] = value
    passthrough = PipPassthrough()
    for value in settings.values():
        for path in _paths_to_mount(value):
            if path not in passthrough.mounts:
                name = posixpath.basename(path.rstrip("/")) or "root"
                passthrough.mounts[path] = f"{BUILD_MOUNTS}/{len(passthrough.mounts)}/{name}"
    for key, value in settings.items():
        passthrough.environment[_env_name(key)] = _rewrite(value, passthrough.mounts)
    return passthrough
