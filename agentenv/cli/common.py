"""Pieces the CLI commands share."""

from __future__ import annotations

import threading
from collections.abc import Callable

import typer

from agentenv.env.provision import Provisioned, RuntimeSettings, provision, resolve_kind
from agentenv.runtime.base import Runtime
from agentenv.tasks.model import Task
from agentenv.tasks.repo import content_id


def runtime_starters(kind: str) -> Callable[[Task], tuple[Callable[[], Runtime], str]]:
    """For each task: a factory of fresh runtimes, and an id of what they are made from."""
    if kind not in ("docker", "local", "auto"):
        raise typer.BadParameter("must be docker, local or auto", param_hint="--runtime")
    settings = RuntimeSettings(kind=resolve_kind(kind))  # type: ignore[arg-type]
    cache: dict[str, Provisioned] = {}
    lock = threading.Lock()

    def starter(task: Task) -> tuple[Callable[[], Runtime], str]:
        with lock:
            if task.instance_id not in cache:
                cache[task.instance_id] = provision(task, settings)
        provisioned = cache[task.instance_id]
        return provisioned.start, provisioned.image or f"local:{content_id(task)}"

    return starter
