"""The sandbox of a task container: its limits, and how they become Docker's settings.

Everything an episode's container is allowed (memory, CPUs, processes, network) is decided here,
so that the sandbox can be read, and changed, in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ContainerLimits(BaseModel):
    """The sandbox of a task container. The defaults are what an episode gets."""

    model_config = ConfigDict(extra="forbid")

    memory: str = "4g"
    cpus: float = 1.0
    pids: int = 1024
    network: bool = False

    def run_kwargs(self) -> dict[str, Any]:
        return {
            "mem_limit": self.memory,
            "memswap_limit": self.memory,  # no swap beyond the memory limit
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids,
            "network_mode": "host" if self.network else "none",
        }
