"""Removing containers that runs left behind (a killed run never removes its own)."""

from __future__ import annotations

import os
import socket

from pydantic import BaseModel

from agentenv.runtime.docker_runtime import HOST_LABEL, MANAGED_LABEL, PID_LABEL
from agentenv.runtime.engine import docker_client, with_engine


class Leftover(BaseModel):
    id: str
    name: str
    status: str
    labels: dict[str, str]
    reason: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def leftovers(*, everything: bool = False) -> list[Leftover]:
    """Managed containers whose creating process on this host is gone (or all, `everything`)."""
    client = docker_client()
    containers = with_engine("listing containers")(client.containers.list)(
        all=True, filters={"label": f"{MANAGED_LABEL}=1"}
    )
    here = socket.gethostname()
    found = []
    for container in containers:
        labels = container.labels or {}
        reason = None
        if everything:
            reason = "--all"
        elif labels.get(HOST_LABEL, here) == here:
            pid = labels.get(PID_LABEL, "")
            if not pid.isdigit():
                reason = "no creator recorded"
            elif not _alive(int(pid)):
                reason = f"its creator (pid {pid}) is gone"
        if reason:
            found.append(Leftover(id=container.id[:12], name=container.name, status=container.status, labels=labels, reason=reason))
    return found


def remove(containers: list[Leftover]) -> int:
    client = docker_client()
    removed = 0
    for leftover in containers:
        try:
            with_engine("removing a container")(client.api.remove_container)(leftover.id, force=True)
            removed += 1
        except Exception:  # already gone: fine
            continue
    return removed
