"""The kernel's own count of a container's limit events: OOM kills and refused forks.

Read from the container's cgroup files on this host when the engine runs on it (a few
microseconds), else from inside the container with a one-off exec (~100 ms, so callers read
that way only when a command went wrong). cgroup v1 (`memory.oom_control`'s `oom_kill`) and v2
(`memory.events`' `oom_kill`); `pids.events`' `max` counts forks refused by the process limit
in both.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol

import docker.errors
import requests.exceptions
from docker.models.containers import Container

log = logging.getLogger(__name__)

CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Counters:
    oom_kills: int | None  # None: this kernel or engine does not say
    forks_refused: int | None
    processes: int | None  # processes (and threads) in the container now


class CounterSource(Protocol):
    # True when a read costs next to nothing, so it can follow every command.
    cheap: bool

    def read(self) -> Counters: ...


def _key(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read().decode()
    except OSError:
        return None


class HostFiles:
    """The container's cgroup files, read on the engine's host."""

    cheap = True

    def __init__(self, memory_events: str | None, memory_key: str, pids_dir: str | None) -> None:
        self._memory_events = memory_events
        self._memory_key = memory_key
        self._pids_events = f"{pids_dir}/pids.events" if pids_dir else None
        self._pids_current = f"{pids_dir}/pids.current" if pids_dir else None

    @classmethod
    def locate(cls, container: Container) -> HostFiles | None:
        """The files of `container`'s cgroups, or None if this process cannot see them (the
        engine runs elsewhere, or in another pid namespace)."""
        pid = (container.attrs.get("State") or {}).get("Pid") or 0
        table = _read(f"/proc/{pid}/cgroup") if pid else None
        if not table:
            return None
        v1: dict[str, str] = {}
        unified: str | None = None
        for line in table.splitlines():
            _, controllers, path = line.split(":", 2)
            # Another pid namespace's process would name another container: trust only ours.
            if container.id not in path:
                continue
            if controllers == "":
                unified = path
            for controller in controllers.split(","):
                v1[controller] = path
        memory: tuple[str, str] | None = None
        pids_dir: str | None = None
        if "memory" in v1:
            memory = (f"{CGROUP_ROOT}/memory{v1['memory']}/memory.oom_control", "oom_kill")
        elif unified is not None and os.path.exists(f"{CGROUP_ROOT}{unified}/memory.events"):
            memory = (f"{CGROUP_ROOT}{unified}/memory.events", "oom_kill")
        if "pids" in v1:
            pids_dir = f"{CGROUP_ROOT}/pids{v1['pids']}"
        elif unified is not None and os.path.exists(f"{CGROUP_ROOT}{unified}/pids.events"):
            pids_dir = f"{CGROUP_ROOT}{unified}"
        found = cls(memory[0] if memory else None, memory[1] if memory else "", pids_dir)
        if _read(found._memory_events) is None and _read(found._pids_events) is None:
            return None
        return found

    def read(self) -> Counters:
        memory = _read(self._memory_events)
        pids = _read(self._pids_events)
        current = _read(self._pids_current)
        return Counters(
            oom_kills=_key(memory, self._memory_key) if memory else None,
            forks_refused=_key(pids, "max") if pids else None,
            processes=int(current) if current and current.strip().isdigit() else None,
        )


# Inside the container its own cgroup is at the root of /sys/fs/cgroup (v1: per controller;
# v2: with the private cgroup namespace Docker gives it). Builtins only: this must run when the
# process limit is reached. Keys are prefixed: v2's memory.events has a `max` line too.
_INSIDE_SCRIPT = r"""
for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
  [ -r "$f" ] && while read -r k v; do echo "memory_$k $v"; done < "$f"
done
for f in /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/pids.events; do
  [ -r "$f" ] && while read -r k v; do echo "pids_$k $v"; done < "$f"
done
for f in /sys/fs/cgroup/pids/pids.current /sys/fs/cgroup/pids.current; do
  [ -r "$f" ] && read -r v < "$f" && echo "processes $v"
done
exit 0
"""


class InsideContainer:
    """The same files, read by a one-off exec in the container (any engine, ~100 ms)."""

    cheap = False

    def __init__(self, container: Container) -> None:
        self._container = container

    def read(self) -> Counters:
        try:
            code, output = self._container.exec_run(["sh", "-c", _INSIDE_SCRIPT])
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            log.debug("could not read the container's cgroup counters", exc_info=True)
            return Counters(None, None, None)
        text = output.decode(errors="replace") if code == 0 else ""
        return Counters(
            oom_kills=_key(text, "memory_oom_kill"),
            forks_refused=_key(text, "pids_max"),
            processes=_key(text, "processes"),
        )


def counter_source(container: Container) -> CounterSource:
    """The cheapest way to read `container`'s counters from here (it must have started)."""
    container.reload()
    return HostFiles.locate(container) or InsideContainer(container)
