"""What a command ran into: the sandbox's limits, told to the agent as `CommandResult.notices`.

After each command the kernel's counters (`cgroup_counters`) say whether the memory limit
killed a process or the process limit refused a fork since the last command; the disk watch
says whether the disk limit stopped something. Counters that cost an exec to read are read
only when a command failed, timed out or lost its shell.

A fork bomb keeps a container at its process limit after the command that started it has
returned: then every process in the container is stopped at once by restarting the container
(the kernel ends the whole process namespace; from inside, a killer would get a thousandth of
the CPU and race the forks), a new shell starts, and it goes back to the command's cwd.
"""

from __future__ import annotations

import logging
import time

import docker
from docker.models.containers import Container

from agentenv.runtime.base import CommandResult
from agentenv.runtime.cgroup_counters import Counters, CounterSource, counter_source
from agentenv.runtime.disk_watch import DiskWatch, watch_disk
from agentenv.runtime.engine import with_engine
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.runtime.shell import ShellSession, shell_word

log = logging.getLogger(__name__)

SIGKILL_EXIT = 128 + 9
# Still at the limit after the command: most of the allowed processes remain, or forks are
# still being refused a moment later.
_LIVE_SHARE = 0.9
_LIVE_RECHECK_S = 0.1


def _grew(before: int | None, after: int | None) -> bool:
    return before is not None and after is not None and after > before


class LimitEvents:
    """The limits of one container, watched for the commands of its shell."""

    def __init__(
        self, client: docker.DockerClient, container: Container, limits: ContainerLimits
    ) -> None:
        self._container = container
        self._limits = limits
        self._client = client
        self._source: CounterSource = counter_source(container)
        self._last: Counters = self._source.read()
        self._disk: DiskWatch | None = watch_disk(client, container, limits.disk, limits.disk_bytes)

    def observe(self, result: CommandResult, session: ShellSession) -> CommandResult:
        """`result` with a notice for each limit the command ran into (a fork bomb it left
        running is stopped on the way)."""
        notices: list[str] = []
        updates: dict[str, object] = {}
        went_wrong = result.exit_code != 0 or result.timed_out or result.shell_restarted
        if self._source.cheap or went_wrong:
            now = self._source.read()
            before, self._last = self._last, now
            if _grew(before.oom_kills, now.oom_kills):
                notices.append(self._memory_notice(result))
            if _grew(before.forks_refused, now.forks_refused):
                if self._still_at_process_limit(now):
                    cwd = self._stop_everything(session, result.cwd)
                    updates.update(shell_restarted=True, cwd=cwd)
                    notices.append(
                        f"The process limit ({self._limits.pids}) was reached, and processes kept "
                        "the container at it after the command (a fork bomb?): every process in "
                        f"the container was stopped and a new shell was started in {cwd} "
                        "(variables and background jobs are gone)."
                    )
                else:
                    notices.append(
                        f"The process limit ({self._limits.pids}) was reached: some processes "
                        "could not be started."
                    )
        if self._disk is not None:
            notices += self._disk.notices(result.output, result.exit_code, self._client)
        if not notices:
            return result
        return result.model_copy(update={**updates, "notices": [*result.notices, *notices]})

    def _memory_notice(self, result: CommandResult) -> str:
        limit = f"the container's memory limit ({self._limits.memory}) was reached"
        if result.shell_restarted:
            return f"The shell was killed: {limit}; a new shell was started."
        if result.exit_code == SIGKILL_EXIT:
            return f"The command was killed: {limit}."
        return f"A process was killed: {limit}."

    def _still_at_process_limit(self, now: Counters) -> bool:
        processes = self._source.processes()
        if processes is not None and processes >= _LIVE_SHARE * self._limits.pids:
            return True
        time.sleep(_LIVE_RECHECK_S)
        later = self._source.read()
        self._last = later
        return _grew(now.forks_refused, later.forks_refused)

    def _stop_everything(self, session: ShellSession, cwd: str) -> str:
        """Restart the container (every process ends), start a shell, go back to `cwd`."""
        session.close(kill=False)
        # SIGKILL to the container's init at once (timeout 0), then a start: works whether
        # or not the container is still running.
        with_engine("restarting a container")(self._container.restart)(timeout=0)
        session.start()
        session.run_line_bytes(f"cd {shell_word(cwd)}", 10.0)
        # The container's cgroup was made anew: so were its counters.
        self._source.close()
        self._source = counter_source(self._container)
        self._last = self._source.read()
        log.warning(
            "%s: a fork bomb was stopped by restarting the container", self._container.short_id
        )
        return session.cwd
