"""The seam between the ACI and the place where commands run.

A `Runtime` owns two persistent shells and the files of one checked-out repository: the
agent's shell (`run`), whose state the agent shapes at will, and a plumbing shell
(`run_plumbing`) that only agentenv uses, for file I/O, search and patch collection, so that
nothing the agent does to its own shell (options, aliases, functions, variables, traps, its
cwd) can change what agentenv reads, writes or submits. It knows nothing about tasks, agents
or grading: callers hand it an image (or a folder) and commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field


class CommandResult(BaseModel):
    """The structured outcome of one command in the persistent shell."""

    output: str
    # None when the command did not finish: it timed out, or the shell died under it.
    exit_code: int | None
    timed_out: bool = False
    # The shell died during the command (e.g. `exit`), or had to be replaced because it would
    # not stop when interrupted, and a fresh one was started in the repo.
    shell_restarted: bool = False
    # Bytes left out of the middle of an output larger than the runtime keeps.
    output_bytes_dropped: int = 0
    # Sentences the agent must read beside the output: what happened to the command or the
    # sandbox that the output alone does not say (the shell was restarted, the memory or
    # process limit was hit, the disk limit was reached...). The ACI shows each one.
    notices: list[str] = Field(default_factory=list)
    duration_s: float
    cwd: str


@dataclass(frozen=True)
class PlumbingResult:
    """The outcome of one plumbing command: its exact bytes (stdout and stderr merged)."""

    output: bytes
    # None when the command timed out (it was interrupted).
    exit_code: int | None
    timed_out: bool = False


class RuntimeError_(Exception):
    """Base class for errors of the runtime layer (named so as not to shadow the builtin)."""


class RuntimeUnavailable(RuntimeError_):
    """The backend (the Docker engine, the host shell) cannot be reached, even after retries."""


class ShellError(RuntimeError_):
    """The persistent shell could not be started or brought back."""


class PlumbingError(RuntimeError_):
    """A plumbing command could not give its whole output: never a shorter one instead."""


class FileTooLarge(OSError):
    """A read asked for at most `limit` bytes of a file that holds `size`."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(27, f"File too large ({size} bytes, more than {limit})", path)
        self.path = path
        self.size = size
        self.limit = limit


@runtime_checkable
class Runtime(Protocol):
    """Where an episode's commands run and its files live."""

    kind: str
    # Absolute path of the repository in the runtime's own file system.
    repo_dir: str
    # Absolute path of a folder outside the repository for agentenv's own files (patches,
    # bundle scripts): never part of a patch, and not shared with another runtime.
    scratch_dir: str

    @property
    def cwd(self) -> str:
        """The agent's shell's working directory after the last command."""
        ...

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run `command` in the agent's persistent shell (cwd and variables persist).

        The command's stdin is /dev/null, stdout and stderr are merged. A timeout interrupts
        the command, keeps its partial output, never lets the rest of its command line run,
        and leaves a usable shell (a new one if the old one would not stop).
        """
        ...

    def run_plumbing(self, script: str, timeout: float = 60.0) -> PlumbingResult:
        """Run agentenv's own shell code in the plumbing shell, which the agent never reaches.

        That shell starts from a known environment (bash defaults, the C locale, a standard
        PATH, no GIT_* variables, no user or system git configuration) in `/`; scripts use
        absolute paths. Raises PlumbingError when the output is larger than the shell keeps.
        """
        ...

    def read_file(self, path: str, max_bytes: int | None = None) -> bytes:
        """The exact bytes of a file (absolute path), whatever its size unless `max_bytes`.

        Raises FileNotFoundError, IsADirectoryError, PermissionError, OSError (not a regular
        file), FileTooLarge (more than `max_bytes`).
        """
        ...

    def write_file(self, path: str, data: bytes) -> None:
        """Write an absolute path, creating parent folders; keeps an existing file's mode."""
        ...

    def close(self) -> None:
        """Release everything the runtime holds. Safe to call twice."""
        ...
