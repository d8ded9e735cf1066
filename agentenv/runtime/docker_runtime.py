"""The default runtime: one sandboxed container per episode, one persistent shell inside it."""

from __future__ import annotations

import logging
import os
import select
import socket
import time

import docker.errors
from docker.models.containers import Container

from agentenv.runtime.base import CommandResult, RuntimeUnavailable
from agentenv.runtime.engine import docker_client, with_engine
from agentenv.runtime.limit_events import LimitEvents
from agentenv.runtime.network import network_mode, say_what_it_reaches
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.runtime.shell import BASH_ARGV, SHELL_ENV, ShellSession
from agentenv.runtime.shell_files import read_via_shell, write_via_shell

log = logging.getLogger(__name__)

MANAGED_LABEL = "agentenv.managed"
HOST_LABEL = "agentenv.host"
PID_LABEL = "agentenv.host_pid"
# Larger writes go through a one-off exec's stdin: bash parses its input a byte at a time.
_SHELL_WRITE_LIMIT = 256 * 1024

# Walks /proc with shell builtins only, so it works in any image with a POSIX shell.
_KILL_DESCENDANTS = r"""
root=$1; set -- $root; found=" $root "
changed=1
while [ $changed = 1 ]; do
  changed=0
  for status in /proc/[0-9]*/status; do
    pid=${status#/proc/}; pid=${pid%/status}
    case "$found" in *" $pid "*) continue;; esac
    while read -r key value; do
      if [ "$key" = "PPid:" ]; then
        case "$found" in *" $value "*) found="$found$pid "; set -- "$@" "$pid"; changed=1;; esac
        break
      fi
    done < "$status" 2>/dev/null
  done
done
shift
[ $# -gt 0 ] && kill -9 "$@" 2>/dev/null
exit 0
"""


class DockerExecTransport:
    """A bash started with `docker exec -it`, spoken to over the attach socket."""

    def __init__(self, client: docker.DockerClient, container: Container, workdir: str) -> None:
        self._client = client
        self._container = container
        exec_id = self._create_exec(workdir)
        self._attached = self._client.api.exec_start(exec_id, socket=True, tty=True)
        self._sock: socket.socket = getattr(self._attached, "_sock", self._attached)
        self._sock.setblocking(True)

    @with_engine("starting a shell in the container")
    def _create_exec(self, workdir: str) -> str:
        created = self._client.api.exec_create(
            self._container.id,
            BASH_ARGV,
            stdin=True,
            tty=True,
            environment=SHELL_ENV,
            workdir=workdir,
        )
        return created["Id"]

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError:
            pass  # the shell is gone; recv reports it

    def recv(self, timeout: float) -> bytes | None:
        try:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                return None
            return self._sock.recv(65536)
        except OSError:
            return b""

    def kill_descendants(self, pid: int) -> None:
        self._exec_sh(_KILL_DESCENDANTS, str(pid))

    def close(self, pid: int | None) -> None:
        if pid is not None:
            self._exec_sh(_KILL_DESCENDANTS + f"\nkill -9 {pid} 2>/dev/null\n", str(pid))
        for handle in (self._attached, self._sock):
            try:
                handle.close()
            except OSError:
                pass

    def _exec_sh(self, script: str, *args: str) -> None:
        try:
            self._container.exec_run(["sh", "-c", script, "sh", *args])
        except docker.errors.APIError:
            log.debug("could not run a helper in the container", exc_info=True)


def owner_labels() -> dict[str, str]:
    """Labels that mark a container as agentenv's and name the process that owns it, so that
    `agentenv gc` can tell the containers of a killed run from those of a live one."""
    return {MANAGED_LABEL: "1", PID_LABEL: str(os.getpid()), HOST_LABEL: socket.gethostname()}


class DockerRuntime:
    """A container from `image`, sandboxed by `limits`, removed on close."""

    kind = "docker"

    def __init__(
        self,
        image: str,
        *,
        repo_dir: str = "/repo",
        limits: ContainerLimits | None = None,
        labels: dict[str, str] | None = None,
        default_timeout: float = 60.0,
        client: docker.DockerClient | None = None,
    ) -> None:
        self.image = image
        self.repo_dir = repo_dir
        self.default_timeout = default_timeout
        self.limits = limits or ContainerLimits()
        self._client = client or docker_client()
        self._closed = False
        self.container = self._start_container(labels or {})
        try:
            self._session = ShellSession(
                lambda: DockerExecTransport(self._client, self.container, repo_dir), repo_dir
            )
            self._session.start()
        except BaseException:
            self._remove_container()
            raise

    @with_engine("starting a container")
    def _start_container(self, labels: dict[str, str]) -> Container:
        """Create and start the sandboxed container (`sandbox`, `network`), and watch its
        limits (`limit_events`)."""
        all_labels = {**owner_labels(), "agentenv.created": f"{time.time():.0f}", **labels}
        mode, network = network_mode(self._client, self.limits.network, {MANAGED_LABEL: "1"})
        try:
            # create + start, not run: run() would try to pull a missing image from a registry.
            container = self._client.containers.create(
                self.image,
                # Keeps the container alive; portable to any image with a POSIX shell.
                ["/bin/sh", "-c", "while :; do sleep 3600; done"],
                init=True,
                labels=all_labels,
                working_dir=self.repo_dir,
                **self.limits.run_kwargs(network_mode=mode),
            )
        except docker.errors.ImageNotFound as exc:
            raise RuntimeUnavailable(f"image {self.image!r} is not on this engine") from exc
        try:
            container.start()
            if network is not None:
                say_what_it_reaches(container, network)
            self._limit_events = LimitEvents(self._client, container, self.limits)
        except BaseException:
            container.remove(force=True)
            raise
        return container

    @property
    def cwd(self) -> str:
        return self._session.cwd

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        result = self._session.run(command, timeout or self.default_timeout)
        return self._limit_events.observe(result, self._session)

    def read_file(self, path: str) -> bytes:
        return read_via_shell(self._session, path)

    def write_file(self, path: str, data: bytes) -> None:
        if len(data) <= _SHELL_WRITE_LIMIT:
            write_via_shell(self._session, path, data)
        else:
            self._write_through_exec(path, data)

    @with_engine("writing a file in the container")
    def _write_through_exec(self, path: str, data: bytes) -> None:
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat >"$1"'
        exec_id = self._client.api.exec_create(
            self.container.id, ["sh", "-c", script, "sh", path], stdin=True
        )["Id"]
        attached = self._client.api.exec_start(exec_id, socket=True)
        sock: socket.socket = getattr(attached, "_sock", attached)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        finally:
            sock.close()
        code = self._client.api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            raise OSError(f"could not write {path} in the container (exit code {code})")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # The container goes away with everything in it; no need to stop the shell first.
            self._session.close(kill=False)
        finally:
            self._remove_container()

    def _remove_container(self) -> None:
        try:
            with_engine("removing a container")(self.container.remove)(force=True)
        except docker.errors.NotFound:
            pass
        except RuntimeUnavailable:
            log.warning("container %s was not removed; `agentenv gc` will", self.container.id)

    def __enter__(self) -> DockerRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
