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
    task_locks: dict[str, threading.Lock] = {}
    lock = threading.Lock()

    def starter(task: Task) -> tuple[Callable[[], Runtime], str]:
        # One lock per task: workers build different tasks' images at once (images.py locks
        # each image tag itself), and one task is provisioned once.
        with lock:
            task_lock = task_locks.setdefault(task.instance_id, threading.Lock())
        with task_lock:
            if task.instance_id not in cache:
                cache[task.instance_id] = provision(task, settings)
        provisioned = cache[task.instance_id]
        return provisioned.start, provisioned.image or f"local:{content_id(task)}"

    return starter
