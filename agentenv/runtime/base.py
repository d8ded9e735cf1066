"""The seam between the ACI and the place where commands run.

A `Runtime` owns one persistent shell and the files of one checked-out repository. It knows
nothing about tasks, agents or grading: callers hand it an image (or a folder) and commands.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field


class CommandResult(BaseModel):
    """The structured outcome of one command in the persistent shell."""

    output: str
    # None when the command did not finish: it timed out, or the shell died under it.
    exit_code: int | None
    timed_out: bool = False
    # The shell died during the command (e.g. `exit`) and a fresh one was started in the repo.
    shell_restarted: bool = False
    # Bytes left out of the middle of an output larger than the runtime keeps.
    output_bytes_dropped: int = 0
    # Sentences the agent must read beside the output: what happened to the command or the
    # sandbox that the output alone does not say (the shell was restarted, the memory or
    # process limit was hit, the disk limit was reached...). The ACI shows each one.
    notices: list[str] = Field(default_factory=list)
    duration_s: float
    cwd: str


class RuntimeError_(Exception):
    """Base class for errors of the runtime layer (named so as not to shadow the builtin)."""


class RuntimeUnavailable(RuntimeError_):
    """The backend (the Docker engine, the host shell) cannot be reached, even after retries."""


class ShellError(RuntimeError_):
    """The persistent shell could not be started or brought back."""


@runtime_checkable
class Runtime(Protocol):
    """Where an episode's commands run and its files live."""

    kind: str
    # Absolute path of the repository in the runtime's own file system.
    repo_dir: str

    @property
    def cwd(self) -> str:
        """The shell's working directory after the last command."""
        ...

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run `command` in the persistent shell (state such as cwd and variables persists).

        The command's stdin is /dev/null, stdout and stderr are merged. A timeout interrupts
        the command, keeps its partial output, and leaves the shell usable.
        """
        ...

    def read_file(self, path: str) -> bytes:
        """Read an absolute path; raises FileNotFoundError, IsADirectoryError, PermissionError."""
        ...

    def write_file(self, path: str, data: bytes) -> None:
        """Write an absolute path, creating parent folders; keeps an existing file's mode."""
        ...

    def close(self) -> None:
        """Release everything the runtime holds. Safe to call twice."""
        ...
