"""The container an image is built in, and a build that leaves nothing behind but the image.

`docker commit` copies the committed container's labels, environment and command into the
image, and an image's labels reach every container started from it. So the build container
carries none of the build's own: its processes live in the PID namespace of a small labelled
*owner* container, which `agentenv gc` finds once the process that started the build is gone;
removing the owner ends every process of the build, and the build container then removes
itself (auto-remove). Install commands get the host's pip settings as their own environment,
and the image is committed with its parent's config plus its own labels.

Every command runs under a timeout (its own, and what is left of the build's); a command that
fails or runs out of time ends the build with an error that names it and shows the end of its
log, and leaves neither container nor tag behind.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import docker.errors
from pydantic import BaseModel, ConfigDict, Field

from agentenv.runtime.docker_runtime import owner_labels
from agentenv.runtime.engine import docker_client, with_engine
from agentenv.runtime.pip_passthrough import BUILD_ONLY_SETTINGS, host_pip_passthrough

log = logging.getLogger(__name__)

BUILD_LABEL = "agentenv.build"
_KEEP_ALIVE = ["/bin/sh", "-c", "while :; do sleep 3600; done"]
# What of the parent's config a built image keeps (Docker's commit would otherwise take the
# build container's command, environment and labels).
_INHERITED = (
    "Env",
    "Cmd",
    "Entrypoint",
    "User",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
)
_TAIL_BYTES = 64 * 1024
_TAIL_LINES = 30
_WATCH_INTERVAL = 1.0  # seconds between two looks at a build container while a command runs

Progress = Callable[[str], None]


class ImageBuildError(Exception):
    """An image could not be built; the message says which step failed and shows its log."""


class ImageBuildTimeout(ImageBuildError):
    """A build command ran out of time."""


def _seconds_from(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ImageBuildError(f"{variable}={raw!r}: expected a positive number of seconds")
    return value


class BuildTimeouts(BaseModel):
    """How long a build may take: each install command, and the whole build."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: float = Field(1800.0, gt=0, description="seconds one install command may run")
    total: float = Field(
        3600.0, gt=0, description="seconds one image's build may take, all its commands together"
    )

    @classmethod
    def from_environment(cls) -> BuildTimeouts:
        """The defaults, or `AGENTENV_BUILD_COMMAND_TIMEOUT` and `AGENTENV_BUILD_TIMEOUT`
        (seconds) where set; `ImageBuildError` names a variable that is not a duration."""
        defaults = cls()
        return cls(
            command=_seconds_from("AGENTENV_BUILD_COMMAND_TIMEOUT", defaults.command),
            total=_seconds_from("AGENTENV_BUILD_TIMEOUT", defaults.total),
        )


class _Output:
    """What an exec printed: stdout whole (plumbing reads it), and the end of both streams."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self.tail = bytearray()
        self.error: BaseException | None = None

    def add(self, stdout: bytes | None, stderr: bytes | None) -> None:
        for chunk in (stdout, stderr):
            if chunk:
                self.tail += chunk
        if stdout:
            self.stdout += stdout
        if len(self.tail) > 2 * _TAIL_BYTES:
            del self.tail[:-_TAIL_BYTES]

    def tail_text(self) -> str:
        lines = bytes(self.tail).decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-_TAIL_LINES:])


def tar_folder(folder: Path, arcname: str) -> bytes:
    """`folder` as a tar whose entries belong to root: what the build machine's user ids are
    must not decide who owns the repository in the image (git refuses a repository whose owner
    is not the user running it)."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(folder), arcname=arcname, filter=as_root)
    return buffer.getvalue()


class BuildContainer:
    """A running container from `parent` (an image id) to build `tag` in; use it as a context
    manager. `network=True` gives it the host's network and pip settings (for installs)."""

    def __init__(
        self,
        parent: str,
        tag: str,
        *,
        network: bool,
        timeouts: BuildTimeouts,
        progress: Progress = log.info,
    ) -> None:
        self.parent = parent
        self.tag = tag
        self.network = network
        self.timeouts = timeouts
        self.progress = progress
        self._client = docker_client()
        self._owner: Any = None
        self._container: Any = None
        self._environment: dict[str, str] = {}
        self._deadline = 0.0

    # -- lifetime ---------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._deadline = time.monotonic() + self.timeouts.total
        create = with_engine("creating a build container")(self._client.containers.create)
        passthrough = host_pip_passthrough() if self.network else None
        if passthrough is not None:
            self._environment = {**passthrough.environment, **BUILD_ONLY_SETTINGS}
        try:
            self._owner = create(
                self.parent,
                entrypoint=_KEEP_ALIVE,  # whatever entrypoint the parent has
                init=True,
                network_mode="none",
                labels={**owner_labels(), BUILD_LABEL: self.tag},
            )
            with_engine("starting a build container")(self._owner.start)()
            self._container = create(
                self.parent,
                entrypoint=_KEEP_ALIVE,
                pid_mode=f"container:{self._owner.id}",
                auto_remove=True,
                network_mode="host" if self.network else "none",
                mounts=passthrough.docker_mounts() if passthrough else [],
            )
            with_engine("starting a build container")(self._container.start)()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._remove()

    def _remove(self) -> None:
        # The build container first: removing the owner first would also end it, but its
        # auto-removal would then race with ours.
        for container in (self._container, self._owner):
            if container is None:
                continue
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass  # auto-removed, or removed by `agentenv gc`
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: its removal is already under way
                    log.warning("could not remove build container %s: %s", container.short_id, exc)
        self._container = self._owner = None

    # -- commands ---------------------------------------------------------------------------
    def run(self, command: str, *, workdir: str) -> None:
        """An install command (a shell command line), with the build's pip settings."""
        self.progress(f"  $ {command}")
        limit, which = self._limit(
            self.timeouts.command, "the timeout of one install command", f"`{command}`"
        )
        code, output, timed_out = self._exec(
            ["/bin/sh", "-c", command],
            what=f"`{command}`",
            workdir=workdir,
            environment=self._environment,
            timeout=limit,
        )
        if timed_out:
            raise ImageBuildTimeout(
                f"building {self.tag}: `{command}` was stopped after {limit:.0f} s ({which}); "
                f"the end of its log:\n{output.tail_text()}"
            )
        if code != 0:
            raise ImageBuildError(
                f"building {self.tag}: `{command}` failed with exit code {code}:\n{output.tail_text()}"
            )

    def exec(self, argv: list[str], *, what: str, workdir: str = "/") -> bytes:
        """A command of the build's own (no pip settings); its stdout. Fails loudly."""
        limit, which = self._limit(self.timeouts.total, "the build's overall timeout", what)
        code, output, timed_out = self._exec(
            argv, what=what, workdir=workdir, environment={}, timeout=limit
        )
        if timed_out:
            raise ImageBuildTimeout(
                f"building {self.tag}: {what} was stopped after {limit:.0f} s ({which})"
            )
        if code != 0:
            raise ImageBuildError(
                f"building {self.tag}: {what} failed with exit code {code}:\n{output.tail_text()}"
            )
        return bytes(output.stdout)

    def _limit(self, own: float, own_name: str, what: str) -> tuple[float, str]:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ImageBuildTimeout(
                f"building {self.tag}: the build's overall timeout ({self.timeouts.total:.0f} s) passed before {what} could run"
            )
        if remaining < own:
            return remaining, f"the build's overall timeout of {self.timeouts.total:.0f} s"
        return own, own_name

    def _exec(
        self,
        argv: list[str],
        *,
        what: str,
        workdir: str,
        environment: dict[str, str],
        timeout: float,
    ) -> tuple[int | None, _Output, bool]:
        api = self._client.api
        exec_id = with_engine("starting a build command")(api.exec_create)(
            self._container.id, argv, workdir=workdir, environment=environment
        )["Id"]
        output = _Output()
        finished = threading.Event()

        def pump() -> None:
            try:
                for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
                    output.add(stdout, stderr)
            except Exception as exc:  # the container removed under it, the engine gone
                output.error = exc
            finally:
                finished.set()

        # The output is read on a thread so that the wait can end; on a timeout the caller
        # removes the containers, which ends the stream and the thread.
        threading.Thread(target=pump, name=f"build-output-{exec_id[:12]}", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not finished.wait(min(_WATCH_INTERVAL, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return None, output, True
            # A build container that is stopped or removed (docker kill, the OOM killer, gc)
            # does not always end the stream of a command that ran in it.
            if not self._running():
                raise ImageBuildError(
                    f"building {self.tag}: the build container stopped while {what} ran:\n"
                    + output.tail_text()
                )
        if output.error is not None:
            raise ImageBuildError(f"building {self.tag}: lost the output of {what}: {output.error}")
        try:
            return self._exit_code(exec_id), output, False
        except docker.errors.NotFound:
            raise ImageBuildError(
                f"building {self.tag}: the build container was removed while {what} ran:\n"
                + output.tail_text()
            ) from None

    def _running(self) -> bool:
        try:
            state = with_engine("watching a build container")(self._client.api.inspect_container)(
                self._container.id
            )["State"]
        except docker.errors.NotFound:
            return False
        return bool(state.get("Running")) and not state.get("Paused")

    def _exit_code(self, exec_id: str) -> int | None:
        # The stream can end a moment before the engine records the exit code.
        inspect = with_engine("reading a build command's exit code")(self._client.api.exec_inspect)
        for _ in range(100):
            state = inspect(exec_id)
            if not state.get("Running") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            time.sleep(0.05)
        return None

    # -- files and the result ---------------------------------------------------------------
    def put_folder(self, folder: Path, target: str) -> None:
        """Copy `folder` to `target` (its parent folders made if missing)."""
        parent = os.path.dirname(target.rstrip("/")) or "/"
        self.exec(["mkdir", "-p", parent], what=f"making {parent}")
        ok = with_engine("copying the repository into the image")(self._container.put_archive)(
            parent, tar_folder(folder, os.path.basename(target.rstrip("/")))
        )
        if not ok:
            raise ImageBuildError(
                f"building {self.tag}: the engine refused to copy the repository to {target}"
            )

    def commit(
        self, *, workdir: str, labels: dict[str, str], environment: dict[str, str] | None = None
    ) -> str:
        """Commit with the parent's config, `workdir`, `labels` (the image's own) and
        `environment` set over the parent's; the new image's id. The image is not tagged: the
        caller tags it once it has passed its checks."""
        parent_config = (
            with_engine("looking up an image")(self._client.api.inspect_image)(self.parent)[
                "Config"
            ]
            or {}
        )
        config = {
            key: parent_config[key] for key in _INHERITED if parent_config.get(key) is not None
        }
        if environment:
            kept = [
                item for item in config.get("Env", []) if item.split("=", 1)[0] not in environment
            ]
            config["Env"] = kept + [f"{name}={value}" for name, value in environment.items()]
        # An empty entrypoint, not none: with none, Docker would take the build container's.
        config["Entrypoint"] = config.get("Entrypoint") or []
        config["WorkingDir"] = workdir
        config["Labels"] = labels
        image = with_engine("committing the image")(self._container.commit)(conf=config)
        return str(image.id)
