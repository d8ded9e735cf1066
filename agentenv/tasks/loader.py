"""Loading task sets: a folder of YAML specs, a YAML file, or SWE-bench-style JSONL.

Errors name the file, the record (line number for JSONL, index for a YAML list) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agentenv.files import describe_validation
from agentenv.tasks.model import Task
from agentenv.tasks.pypi import PypiSourceError, is_pypi
from agentenv.tasks.repo import RepoSourceError, hidden_test_patch, is_url
from agentenv.tasks.swebench import SwebenchSpecError, apply_swebench_spec, is_swebench_instance

TASK_SUFFIXES = {".yaml", ".yml", ".jsonl", ".json"}
# Files in a task folder that describe the set rather than hold tasks.
RESERVED_NAMES = {"manifest.yaml", "manifest.yml", "manifest.json"}


class TaskLoadError(ValueError):
    """A task file is unreadable or a record in it is invalid."""


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, raw record) for every record in one file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskLoadError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
        return
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise TaskLoadError(f"{path}: cannot be parsed: {exc}") from exc
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield f"{path}[{index}]", item
    else:
        yield str(path), data


def _parse(where: str, raw: Any, base_dir: Path, hidden_test_patches: bool) -> Task:
    if not isinstance(raw, dict):
        raise TaskLoadError(f"{where}: a task must be a mapping, got {type(raw).__name__}")
    try:
        task = Task.model_validate(raw)
    except ValidationError as exc:
        name = raw.get("instance_id", "?")
        raise TaskLoadError(f"{where}: task {name}: {describe_validation(exc)}") from None
    if is_swebench_instance(raw):
        # Its install, test command, log parser and directives are SWE-bench's for its
        # repository and version, unless the record gives its own.
        try:
            apply_swebench_spec(task, raw)
        except SwebenchSpecError as exc:
            raise TaskLoadError(f"{where}: task {task.instance_id}: {exc}") from None
    if not is_url(task.repo_source) and not is_pypi(task.repo_source) and not Path(task.repo_source).is_absolute():
        task.repo_source = str((base_dir / task.repo_source).resolve())
    if task.hidden_tests and not task.test_patch.strip():
        task._test_patch_from_hidden_tests = True
        if not hidden_test_patches:
            return task
        try:
            task.test_patch = hidden_test_patch(task)
        except (RepoSourceError, PypiSourceError, OSError, UnicodeDecodeError) as exc:
            raise TaskLoadError(f"{where}: task {task.instance_id}: field `hidden_tests`: {exc}") from None
    return task


# Folders inside a task folder that hold repository sources, not tasks.
SOURCE_FOLDERS = {"repos"}


def task_files(path: Path) -> list[Path]:
    """A file, or every task file of a folder and its subfolders (task sets), in order.
    Dot-folders and `repos/` (the sources of folder-based tasks) are not task sets."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise TaskLoadError(f"{path}: no such file or folder")
    found: list[Path] = []
    for child in sorted(path.iterdir()):
        if child.is_dir():
            if child.name not in SOURCE_FOLDERS and not child.name.startswith("."):
                found.extend(task_files(child))
        elif child.suffix in TASK_SUFFIXES and child.name not in RESERVED_NAMES:
            found.append(child)
    return found


def task_folders(path: str | Path) -> dict[str, Path]:
    """The folder of the file each task is in (where its set's manifest lives), by instance id."""
    return {
        str(raw["instance_id"]): file.parent
        for file in task_files(Path(path))
        for _, raw in _records(file)
        if isinstance(raw, dict) and "instance_id" in raw
    }


def load_tasks(path: str | Path, *, hidden_test_patches: bool = True) -> list[Task]:
    """Every task under `path`, in file order; instance ids must be unique.

    With `hidden_test_patches=False` the test patches that `hidden_tests` stand for are not
    made (they may need the package index): enough to describe tasks, not to grade them."""
    path = Path(path)
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for file in task_files(path):
        for where, raw in _records(file):
            task = _parse(where, raw, file.parent, hidden_test_patches)
            if task.instance_id in seen:
                raise TaskLoadError(
                    f"{where}: instance_id {task.instance_id!r} is already used at "
                    f"{seen[task.instance_id]}"
                )
            seen[task.instance_id] = where
            tasks.append(task)
    if not tasks:
        raise TaskLoadError(f"{path}: holds no tasks")
    return tasks
