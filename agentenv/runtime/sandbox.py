"""The sandbox of a task container: its limits, and how they become Docker's settings.

Everything an episode's container is allowed (memory, CPUs, processes, disk, network,
capabilities) is decided here, so that the sandbox can be read, and changed, in one place.
What happens when a limit is reached is `limit_events`' and `disk_watch`'s business; how an
episode gets a network, `network`'s.
"""

from __future__ import annotations

from typing import Any

import docker.errors
from docker.types import Ulimit
from docker.utils import parse_bytes
from pydantic import BaseModel, ConfigDict, field_validator

# The capabilities a task keeps; Docker's defaults drop the rest of root's, and we drop more:
# MKNOD, NET_RAW, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, SETFCAP and AUDIT_WRITE are gone. The
# grader drops to an unprivileged user in its container (SETUID, SETGID) and hands it files
# (CHOWN); root in the container still reads and writes every file (DAC_OVERRIDE, FOWNER,
# FSETID) and may signal any of its processes (KILL).
KEPT_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID")
SECURITY_OPTIONS = ("no-new-privileges",)


def size_in_bytes(text: str) -> int:
    """`4g`, `256m`, `10g`... as Docker reads them; a clear error for anything else."""
    try:
        value = parse_bytes(text)
    except (docker.errors.DockerException, ValueError) as exc:
        raise ValueError(
            f"{text!r} is not a size: write a number and a unit, b, k, m or g (e.g. 4g)"
        ) from exc
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive size")
    return value


class ContainerLimits(BaseModel):
    """The sandbox of a task container. The defaults are what an episode gets."""

    model_config = ConfigDict(extra="forbid")

    memory: str = "4g"
    cpus: float = 1.0
    pids: int = 1024
    # True: the container gets a network of its own (a bridge network shared by episodes,
    # see `network`), never the host's. False: no network at all, not even the host's.
    network: bool = False
    # The most the container may write: the size of its writable layer (its files beyond the
    # image's), and so also the largest single file. None: no limit. See `disk_watch`.
    disk: str | None = "10g"

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str) -> str:
        size_in_bytes(value)
        return value

    @field_validator("disk")
    @classmethod
    def _disk_is_a_size(cls, value: str | None) -> str | None:
        if value is not None:
            size_in_bytes(value)
        return value

    @field_validator("cpus")
    @classmethod
    def _cpus_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"{value} CPUs: give a positive number (e.g. 1.0)")
        return value

    @field_validator("pids")
    @classmethod
    def _pids_positive(cls, value: int) -> int:
        # A shell, its command and the container's init need a few processes.
        if value < 8:
            raise ValueError(f"{value} processes: give at least 8")
        return value

    @property
    def memory_bytes(self) -> int:
        return size_in_bytes(self.memory)

    @property
    def disk_bytes(self) -> int | None:
        return size_in_bytes(self.disk) if self.disk is not None else None

    def run_kwargs(self, network_mode: str = "none") -> dict[str, Any]:
        """Docker's create settings for this sandbox; `network_mode` is the network's name,
        decided by `network.episode_network_mode` (never "host")."""
        if network_mode == "host":
            raise ValueError("a task container never gets the host's network")
        kwargs: dict[str, Any] = {
            "mem_limit": self.memory,
            "memswap_limit": self.memory,  # no swap beyond the memory limit
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids,
            "network_mode": network_mode,
            "cap_drop": ["ALL"],
            "cap_add": list(KEPT_CAPABILITIES),
            "security_opt": list(SECURITY_OPTIONS),
        }
        if self.disk_bytes is not None:
            # The kernel stops any write past this size at once (SIGXFSZ, or EFBIG for a process
            # that ignores it); the total over many files is the watchdog's to check.
            kwargs["ulimits"] = [Ulimit(name="fsize", soft=self.disk_bytes, hard=self.disk_bytes)]
        return kwargs
