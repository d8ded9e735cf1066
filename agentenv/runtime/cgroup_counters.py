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
import weakref
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


class CounterSource(Protocol):
    # True when a read costs next to nothing, so it can follow every command.
    cheap: bool

    def read(self) -> Counters: ...

    def processes(self) -> int | None:
        """The processes (and threads) in the container now."""
        ...

    def close(self) -> None: ...


def _key(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode()
    except OSError:
        return None


def _open(path: str | None) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC) if path else None
    except OSError:
        return None


def _pread(fd: int | None) -> bytes | None:
    # A cgroup file read again from offset 0 is made anew: ~4 us, where open+read+close
    # costs ~40 us on these machines.
    try:
        return os.pread(fd, 4096, 0) if fd is not None else None
    except OSError:
        return None


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class HostFiles:
    """The container's cgroup files, read on the engine's host (kept open: read every command)."""

    cheap = True

    def __init__(self, memory_events: str | None, memory_key: str, pids_dir: str | None) -> None:
        self._memory_key = memory_key
        self._memory_fd = _open(memory_events)
        self._pids_fd = _open(f"{pids_dir}/pids.events" if pids_dir else None)
        self._pids_current = f"{pids_dir}/pids.current" if pids_dir else None
        self._last_raw: tuple[bytes | None, bytes | None] | None = None
        self._last = Counters(None, None)
        fds = [fd for fd in (self._memory_fd, self._pids_fd) if fd is not None]
        self._finalizer = weakref.finalize(self, _close_all, fds)

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
        memory: str | None = None
        pids_dir: str | None = None
        if "memory" in v1:
            memory = f"{CGROUP_ROOT}/memory{v1['memory']}/memory.oom_control"
        elif unified is not None and os.path.exists(f"{CGROUP_ROOT}{unified}/memory.events"):
            memory = f"{CGROUP_ROOT}{unified}/memory.events"
        if "pids" in v1:
            pids_dir = f"{CGROUP_ROOT}/pids{v1['pids']}"
        elif unified is not None and os.path.exists(f"{CGROUP_ROOT}{unified}/pids.events"):
            pids_dir = f"{CGROUP_ROOT}{unified}"
        found = cls(memory, "oom_kill", pids_dir)
        if found._memory_fd is None and found._pids_fd is None:
            found.close()
            return None
        return found

    def read(self) -> Counters:
        raw = (_pread(self._memory_fd), _pread(self._pids_fd))
        if raw != self._last_raw:  # most commands change nothing: no parsing then
            memory, pids = raw
            self._last_raw = raw
            self._last = Counters(
                oom_kills=_key(memory.decode() if memory else None, self._memory_key),
                forks_refused=_key(pids.decode() if pids else None, "max"),
            )
        return self._last

    def processes(self) -> int | None:
        current = _read(self._pids_current) if self._pids_current else None
        return int(current) if current and current.strip().isdigit() else None

    def close(self) -> None:
        self._finalizer()


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

    def _exec(self) -> str:
        try:
            code, output = self._container.exec_run(["sh", "-c", _INSIDE_SCRIPT])
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            log.debug("could not read the container's cgroup counters", exc_info=True)
            return ""
        return output.decode(errors="replace") if code == 0 else ""

    def read(self) -> Counters:
        text = self._exec()
        return Counters(
            oom_kills=_key(text, "memory_oom_kill"), forks_refused=_key(text, "pids_max")
        )

    def processes(self) -> int | None:
        return _key(self._exec(), "processes")

    def close(self) -> None:
        pass


def counter_source(container: Container) -> CounterSource:
    """The cheapest way to read `container`'s counters from here (it must have started)."""
    container.reload()
    return HostFiles.locate(container) or InsideContainer(container)
