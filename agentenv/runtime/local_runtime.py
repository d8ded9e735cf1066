"""The host runtime: the same protocol, in a scratch copy of the repository on this machine.

It is for trusted tasks only. Nothing isolates the agent's commands from the host: no network
cut, no limits, the user's own permissions. It says so when it starts.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from ptyprocess import PtyProcess

from agentenv.runtime.base import CommandResult, FileTooLarge, PlumbingResult
from agentenv.runtime.plumbing import (
    PLUMBING_ARGV,
    PLUMBING_ROOT,
    PLUMBING_TIMEOUT_S,
    PlumbingShell,
    plumbing_setup,
)
from agentenv.runtime.shell import BASH_ARGV, SHELL_ENV, ShellSession
from agentenv.runtime.shell_abort import ABORT_SCRIPT, AbortOutcome

log = logging.getLogger(__name__)

UNSAFE_WARNING = (
    "LocalRuntime runs the agent's commands on this machine with your permissions, "
    "without network isolation or resource limits: use it only for trusted tasks."
)


class LocalRuntimeWarning(UserWarning):
    pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (children before grandchildren)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8", errors="replace") as status:
                for line in status:
                    if line.startswith("PPid:"):
                        parents[int(entry)] = int(line.split()[1])
                        break
        except OSError:
            continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


class PtyTransport:
    """A host bash on a pseudo-terminal."""

    def __init__(self, cwd: str, env: dict[str, str], argv: list[str] = BASH_ARGV) -> None:
        self._process = PtyProcess.spawn(argv, cwd=cwd, env=env, dimensions=(50, 200))

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._process.fd, view)
            view = view[written:]

    def recv(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._process.fd], [], [], timeout)
        if not ready:
            return None
        try:
            return os.read(self._process.fd, 65536)
        except OSError:  # EIO: the other side of the pty is closed
            return b""

    def abort_command(self, pid: int, grace_s: float) -> tuple[AbortOutcome, bool]:
        # The same script as in a container, so that both runtimes stop a command alike.
        done = subprocess.run(
            ["bash", "-c", ABORT_SCRIPT, "bash", str(pid), str(round(grace_s * 10))],
            capture_output=True,
            check=False,
        )
        return AbortOutcome.from_exit_code(done.returncode), b"killed" in done.stdout

    def kill_descendants(self, pid: int) -> None:
        for child in reversed(descendants(pid)):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self, pid: int | None) -> None:
        if pid is not None:
            self.kill_descendants(pid)
        try:
            self._process.terminate(force=True)
        except Exception:  # already gone
            log.debug("pty shell already gone", exc_info=True)
        try:
            self._process.close(force=True)
        except Exception:
            log.debug("pty close failed", exc_info=True)


class LocalRuntime:
    """Runs in a scratch copy of `source_dir` on the host. For trusted tasks only."""

    kind = "local"

    def __init__(
        self,
        source_dir: str | Path,
        *,
        default_timeout: float = 60.0,
        scratch_root: str | Path | None = None,
        warn: bool = True,
    ) -> None:
        if warn:
            warnings.warn(UNSAFE_WARNING, LocalRuntimeWarning, stacklevel=2)
        self._scratch = Path(tempfile.mkdtemp(prefix="agentenv-local-", dir=scratch_root))
        repo = self._scratch / "repo"
        shutil.copytree(source_dir, repo, symlinks=True)
        self.repo_dir = str(repo)
        self.default_timeout = default_timeout
        env = dict(os.environ)
        env.update(SHELL_ENV)
        # The interpreter running agentenv comes first, so `python` finds what it has installed.
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env.pop("VIRTUAL_ENV", None)
        self._env = env
        self.scratch_dir = str(self._scratch / "agentenv")
        self._session = ShellSession(lambda: PtyTransport(self.repo_dir, self._env), self.repo_dir)
        # The host's PATH as agentenv itself sees it, not as the agent may have changed it.
        host_path = os.environ.get("PATH", os.defpath)
        plumbing_session = ShellSession(
            lambda: PtyTransport(PLUMBING_ROOT, {"PATH": host_path}, PLUMBING_ARGV),
            PLUMBING_ROOT,
            setup=plumbing_setup(host_path),
        )
        self._plumbing = PlumbingShell(plumbing_session)
        try:
            # One after the other: a fork from a second thread is unsafe (and refused by
            # filelock's audit hook); a host shell starts in milliseconds anyway.
            self._session.start()
            plumbing_session.start()
        except BaseException:
            self._session.close()
            shutil.rmtree(self._scratch, ignore_errors=True)
            raise
        self._closed = False

    @property
    def cwd(self) -> str:
        return self._session.cwd

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        return self._session.run(command, timeout or self.default_timeout)

    def run_plumbing(self, script: str, timeout: float = PLUMBING_TIMEOUT_S) -> PlumbingResult:
        return self._plumbing.run(script, timeout)

    def read_file(self, path: str, max_bytes: int | None = None) -> bytes:
        # The host's files are read by this process: no shell, so nothing of the agent's.
        target = self._absolute(path)
        if target.is_dir():
            raise IsADirectoryError(21, "Is a directory", path)
        if target.exists() and not target.is_file():
            raise OSError(22, "Not a regular file", path)  # /dev/zero would never end
        with open(target, "rb") as handle:
            if max_bytes is None:
                return handle.read()
            data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise FileTooLarge(path, os.fstat(handle.fileno()).st_size, max_bytes)
            return data

    def write_file(self, path: str, data: bytes) -> None:
        target = self._absolute(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Writing in place keeps the file's mode and any hard links, as an editor would.
        with open(target, "wb") as handle:
            handle.write(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._session.close()
        self._plumbing.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _absolute(self, path: str) -> Path:
        if not os.path.isabs(path):
            raise ValueError(f"runtime paths must be absolute, got {path!r}")
        return Path(path)

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
