"""The default runtime: one sandboxed container per episode, one persistent shell inside it."""

from __future__ import annotations

import logging
import os
import select
import socket
import time

import docker.errors
from docker.models.containers import Container

from agentenv.runtime.base import CommandResult, FileTooLarge, PlumbingResult, RuntimeUnavailable
from agentenv.runtime.engine import docker_client, with_engine
from agentenv.runtime.limit_events import LimitEvents
from agentenv.runtime.network import network_mode, say_what_it_reaches
from agentenv.runtime.plumbing import (
    PLUMBING_ARGV,
    PLUMBING_ROOT,
    PLUMBING_TIMEOUT_S,
    STANDARD_PATH,
    PlumbingShell,
    plumbing_setup,
)
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.runtime.shell import BASH_ARGV, SHELL_ENV, ShellSession, shell_word, start_all
from agentenv.runtime.shell_abort import ABORT_SCRIPT, KILL_TREE_SCRIPT, AbortOutcome
from agentenv.runtime.shell_files import (
    SHELL_READ_LIMIT,
    check_absolute,
    read_via_shell,
    write_via_shell,
)

log = logging.getLogger(__name__)

MANAGED_LABEL = "agentenv.managed"
HOST_LABEL = "agentenv.host"
PID_LABEL = "agentenv.host_pid"
# Larger writes go through a one-off exec's stdin: bash parses its input a byte at a time.
_SHELL_WRITE_LIMIT = 256 * 1024
# agentenv's own files in the container: outside the repository, hidden from `ls /tmp`.
SCRATCH_DIR = "/tmp/.agentenv"


class DockerExecTransport:
    """A bash started with `docker exec -it`, spoken to over the attach socket."""

    def __init__(
        self,
        client: docker.DockerClient,
        container: Container,
        workdir: str,
        argv: list[str] = BASH_ARGV,
        environment: dict[str, str] | None = None,
    ) -> None:
        self._client = client
        self._container = container
        environment = SHELL_ENV if environment is None else environment
        exec_id = self._create_exec(workdir, argv, environment)
        self._attached = self._client.api.exec_start(exec_id, socket=True, tty=True)
        self._sock: socket.socket = getattr(self._attached, "_sock", self._attached)
        self._sock.setblocking(True)

    @with_engine("starting a shell in the container")
    def _create_exec(self, workdir: str, argv: list[str], environment: dict[str, str]) -> str:
        created = self._client.api.exec_create(
            self._container.id,
            argv,
            stdin=True,
            tty=True,
            environment=environment,
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

    def abort_command(self, pid: int, grace_s: float) -> tuple[AbortOutcome, bool]:
        code, output = self._exec_bash(ABORT_SCRIPT, str(pid), str(round(grace_s * 10)))
        return AbortOutcome.from_exit_code(code), b"killed" in output

    def close(self, pid: int | None) -> None:
        if pid is not None:
            self._exec_bash(KILL_TREE_SCRIPT, str(pid))
        for handle in (self._attached, self._sock):
            try:
                handle.close()
            except OSError:
                pass

    def _exec_bash(self, script: str, *args: str) -> tuple[int | None, bytes]:
        try:
            result = self._container.exec_run(["bash", "-c", script, "bash", *args])
            return result.exit_code, result.output or b""
        except docker.errors.APIError:
            log.debug("could not run a helper in the container", exc_info=True)
            return None, b""


def _demultiplex(stream: bytes | bytearray) -> tuple[bytes, bytes]:
    """stdout and stderr of an exec without a terminal: frames of an 8-byte header (stream
    number, then the length, big-endian) and their payload. Parsed here, in large reads: the
    SDK's own demultiplexing reads a 20 MB output in 15 s."""
    out, err = bytearray(), bytearray()
    view = memoryview(stream)
    at = 0
    while at + 8 <= len(view):
        kind, size = view[at], int.from_bytes(view[at + 4 : at + 8], "big")
        payload = view[at + 8 : at + 8 + size]
        if len(payload) < size:
            raise OSError(f"the engine cut an exec's output short ({len(payload)} of {size} bytes)")
        (err if kind == 2 else out).extend(payload)
        at += 8 + size
    if at != len(view):
        raise OSError("the engine sent a truncated frame header")
    return bytes(out), bytes(err)


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
        self.scratch_dir = SCRATCH_DIR
        self.container = self._start_container(labels or {})
        try:
            self._session = ShellSession(
                lambda: DockerExecTransport(self._client, self.container, repo_dir), repo_dir
            )
            plumbing_session = ShellSession(
                lambda: DockerExecTransport(
                    self._client, self.container, PLUMBING_ROOT, PLUMBING_ARGV, environment={}
                ),
                PLUMBING_ROOT,
                setup=plumbing_setup(STANDARD_PATH),
            )
            self._plumbing = PlumbingShell(plumbing_session)
            start_all(self._session, plumbing_session)
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
                # Keeps the container alive; portable to any image with a POSIX shell. The
                # entrypoint too: an image's own ENTRYPOINT would take this loop as arguments.
                ["while :; do sleep 3600; done"],
                entrypoint=["/bin/sh", "-c"],
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

    def run_plumbing(self, script: str, timeout: float = PLUMBING_TIMEOUT_S) -> PlumbingResult:
        return self._plumbing.run(script, timeout)

    def read_file(self, path: str, max_bytes: int | None = None) -> bytes:
        limit = SHELL_READ_LIMIT if max_bytes is None else min(max_bytes, SHELL_READ_LIMIT)
        try:
            return read_via_shell(self._plumbing.session, path, limit)
        except FileTooLarge as exc:
            if max_bytes is not None and exc.size > max_bytes:
                raise FileTooLarge(path, exc.size, max_bytes) from None
        return self._read_through_exec(path)

    def write_file(self, path: str, data: bytes) -> None:
        if len(data) <= _SHELL_WRITE_LIMIT:
            write_via_shell(self._plumbing.session, path, data)
        else:
            self._write_through_exec(path, data)

    @with_engine("reading a file in the container")
    def _read_through_exec(self, path: str) -> bytes:
        """A large file, whole: a one-off exec's stdout has no cap (the shell keeps 8 MiB)."""
        check_absolute(path)
        argv = ["bash", "-c", f"exec cat -- {shell_word(path)}"]
        created = self._client.api.exec_create(self.container.id, argv, stdout=True, stderr=True)
        exec_id = created["Id"]
        attached = self._client.api.exec_start(exec_id, socket=True)
        sock: socket.socket = getattr(attached, "_sock", attached)
        try:
            stream = bytearray()
            while chunk := sock.recv(1 << 20):
                stream += chunk
        finally:
            sock.close()
        stdout, stderr = _demultiplex(stream)
        code = self._client.api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            detail = stderr.decode("utf-8", errors="replace").strip()
            detail = detail or f"exit code {code}"
            raise OSError(f"could not read {path} in the container: {detail}")
        return stdout

    @with_engine("writing a file in the container")
    def _write_through_exec(self, path: str, data: bytes) -> None:
        check_absolute(path)
        script = f'p={shell_word(path)}; mkdir -p -- "$(dirname -- "$p")" && cat >"$p"'
        exec_id = self._client.api.exec_create(
            self.container.id, ["bash", "-c", script], stdin=True
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
            # The container goes away with everything in it; no need to stop the shells first.
            self._session.close(kill=False)
            self._plumbing.close(kill=False)
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
