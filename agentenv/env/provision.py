"""From a task to a way of starting runtimes for it: the bridge between tasks and runtimes.

For Docker: the task's repo image (built once, then cached by content), and a factory that
starts a fresh sandboxed container from it. For the host: a cached checkout of the base repo,
and a factory that copies it into a scratch folder.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentenv.diffs import PatchFormatError, split_patch
from agentenv.runtime.base import Runtime
from agentenv.runtime.build_container import BuildTimeouts
from agentenv.runtime.docker_runtime import DockerRuntime
from agentenv.runtime.engine import engine_answers
from agentenv.runtime.images import ImageBuildError, RepoImageRecipe, ensure_repo_image
from agentenv.runtime.local_runtime import UNSAFE_WARNING, LocalRuntime, LocalRuntimeWarning
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.tasks.model import Task
from agentenv.tasks.pypi import is_pypi, parse_spec
from agentenv.tasks.repo import cached_checkout, content_id, materialize, source_id

log = logging.getLogger(__name__)

RuntimeKind = Literal["docker", "local", "auto"]
REPO_DIR = "/repo"


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RuntimeKind = "docker"
    limits: ContainerLimits = Field(default_factory=ContainerLimits)
    command_timeout: float = 60.0
    # None: the defaults, or AGENTENV_BUILD_COMMAND_TIMEOUT / AGENTENV_BUILD_TIMEOUT.
    build_timeouts: BuildTimeouts | None = None


def resolve_kind(kind: RuntimeKind) -> Literal["docker", "local"]:
    """'auto' means Docker when an engine answers, else the host (with a warning)."""
    if kind == "local":
        warnings.warn(UNSAFE_WARNING, LocalRuntimeWarning, stacklevel=2)
    if kind != "auto":
        return kind
    if engine_answers():
        return "docker"
    warnings.warn(
        "no Docker engine answers; falling back to the local runtime. " + UNSAFE_WARNING,
        LocalRuntimeWarning,
        stacklevel=2,
    )
    return "local"


@dataclass
class Provisioned:
    """How to start runtimes for one task, and what they are made from."""

    start: Callable[[], Runtime]
    kind: str
    image: str | None


def image_name(task: Task) -> str:
    slug = task.instance_id.lower().replace("_", "-")
    return f"agentenv/task.{slug}"


def env_image_name(task: Task) -> str:
    """The environment image shared by the tasks of one source (e.g. one PyPI release)."""
    if is_pypi(task.repo_source):
        return f"agentenv/env.{parse_spec(task.repo_source).key.lower()}"
    return image_name(task) + "-env"


def hidden_paths(task: Task) -> tuple[str, ...]:
    """What must never be in the agent's image: the task's hidden test files, and the files its
    hidden test patch adds (or renames to)."""
    try:
        sections = split_patch(task.test_patch)
    except PatchFormatError as exc:
        # The image cannot be checked without knowing what the hidden tests are.
        raise ImageBuildError(f"task {task.instance_id}: field `test_patch`: {exc}") from None
    added = {s.new_path for s in sections if s.new_path and s.new_path != s.old_path}
    return tuple(sorted({*task.hidden_tests, *added}))


def provision(
    task: Task,
    settings: RuntimeSettings,
    *,
    labels: dict[str, str] | None = None,
    progress: Callable[[str], None] = log.info,
) -> Provisioned:
    kind = resolve_kind(settings.kind) if settings.kind == "auto" else settings.kind
    if kind == "docker":
        source = task.model_copy(update={"base_patch": "", "hidden_tests": []})
        pristine = source_id(task)  # hashing a folder or unpacking an sdist is done once
        recipe = RepoImageRecipe(
            name=image_name(task),
            base_image=task.environment.base_image,
            content_id=content_id(task, pristine),
            repo_dir=REPO_DIR,
            install=tuple(task.environment.install),
            env_content_id=pristine,
            env_name=env_image_name(task),
            hidden=hidden_paths(task),
        )
        tag = ensure_repo_image(
            recipe,
            lambda folder: materialize(task, folder),
            materialize_env=lambda folder: materialize(source, folder),
            timeouts=settings.build_timeouts,
            progress=progress,
        )
        all_labels = {"agentenv.instance_id": task.instance_id, **(labels or {})}

        def start_docker() -> Runtime:
            return DockerRuntime(
                tag,
                repo_dir=REPO_DIR,
                limits=settings.limits,
                labels=all_labels,
                default_timeout=settings.command_timeout,
            )

        return Provisioned(start=start_docker, kind="docker", image=tag)

    checkout = cached_checkout(task)

    def start_local() -> Runtime:
        # The caller was warned once (resolve_kind, or by choosing "local"); not per episode.
        return LocalRuntime(checkout, default_timeout=settings.command_timeout, warn=False)

    return Provisioned(start=start_local, kind="local", image=None)
