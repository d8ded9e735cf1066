"""Removing containers that runs left behind (a killed run never removes its own), and the
containers of a run that is stopping."""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from agentenv.runtime.docker_runtime import HOST_LABEL, MANAGED_LABEL, PID_LABEL
from agentenv.runtime.base import RuntimeUnavailable
from agentenv.runtime.engine import docker_client, with_engine

log = logging.getLogger(__name__)
RUN_LABEL = "agentenv.run_id"


class Leftover(BaseModel):
    id: str
    name: str
    status: str
    labels: dict[str, str]
    reason: str


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs. A zombie does not: a Ray actor that was SIGKILLed stays
    one until the raylet reaps it, and its containers must go as soon as the run hears of it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read()
    except OSError:
        return True  # no /proc here: what kill said
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]  # after "pid (command) "
    return state not in (b"Z", b"X")


def _managed(extra_labels: list[str] | None = None) -> list[Leftover]:
    """Managed containers, from one listing: the engine's list already has their labels, and
    asking for each one's details would fail for a container removed in the meantime (a run
    removes its containers while gc looks)."""
    client = docker_client()
    rows = with_engine("listing containers")(client.api.containers)(
        all=True, filters={"label": [f"{MANAGED_LABEL}=1", *(extra_labels or [])]}
    )
    return [
        Leftover(
            id=row["Id"][:12],
            name=(row.get("Names") or ["/?"])[0].lstrip("/"),
            status=row.get("State", ""),
            labels=row.get("Labels") or {},
            reason="",
        )
        for row in rows
    ]


def leftovers(*, everything: bool = False) -> list[Leftover]:
    """Managed containers whose creating process on this host is gone (or all, `everything`)."""
    here = socket.gethostname()
    found = []
    for container in _managed():
        labels = container.labels
        reason = None
        if everything:
            reason = "--all"
        elif labels.get(HOST_LABEL, here) == here:
            pid = labels.get(PID_LABEL, "")
            if not pid.isdigit():
                reason = "no creator recorded"
            elif not process_alive(int(pid)):
                reason = f"its creator (pid {pid}) is gone"
        if reason:
            found.append(container.model_copy(update={"reason": reason}))
    return found


def remove(containers: list[Leftover]) -> int:
    """Remove `containers` (several at once: a stopping run waits for this); the number removed."""
    if not containers:
        return 0
    client = docker_client()

    def remove_one(leftover: Leftover) -> bool:
        try:
            with_engine("removing a container")(client.api.remove_container)(leftover.id, force=True)
        except Exception:  # already gone: fine
            return False
        return True

    with ThreadPoolExecutor(max_workers=min(8, len(containers)), thread_name_prefix="gc") as pool:
        return sum(pool.map(remove_one, containers))


def run_containers(run_id: str) -> list[Leftover]:
    """The containers of run `run_id` on this host whose creator is this process or is gone
    (a killed Ray actor): a run that is stopping removes them. Those of another live process
    (the same run id started twice) are left alone."""
    here, me = socket.gethostname(), str(os.getpid())
    found = []
    for container in _managed([f"{RUN_LABEL}={run_id}"]):
        pid = container.labels.get(PID_LABEL, "")
        if container.labels.get(HOST_LABEL, here) != here:
            continue
        if pid == me or (pid.isdigit() and not process_alive(int(pid))):
            found.append(container.model_copy(update={"reason": f"run {run_id} is stopping"}))
    return found


def remove_run_containers(run_id: str) -> int:
    """Remove `run_containers(run_id)`; an engine that does not answer leaves them to gc."""
    try:
        return remove(run_containers(run_id))
    except RuntimeUnavailable as exc:
        log.warning("the containers of run %s were not removed (`agentenv gc` will): %s", run_id, exc)
        return 0
