"""Writing a task spec as YAML that a person can read: the long texts (the problem statement,
the patches) as block scalars, and only when they load back byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from agentenv.files import write_atomically
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task

LONG_TEXTS = ("problem_statement", "patch", "test_patch", "base_patch")
# A block scalar cannot hold trailing blanks, tabs, carriage returns or other control
# characters faithfully: such a text is written quoted.
_NOT_FOR_A_BLOCK = re.compile(r"[ \t]\n|[ \t]$|[\t\r\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]")


class SpecWriteError(ValueError):
    """A task would not load back as it was written; names the file and the field."""


class _Block(str):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|"))


def task_yaml(task: Task, exclude: set[str] | None = None) -> str:
    data = task.model_dump(mode="json", exclude=exclude)
    for key in LONG_TEXTS:
        value = data.get(key)
        if isinstance(value, str) and "\n" in value and not _NOT_FOR_A_BLOCK.search(value):
            data[key] = _Block(value)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_task_file(task: Task, path: Path) -> Task:
    """Write `task` to `path` and load it back; the loaded task, which equals `task`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, task_yaml(task))
    (loaded,) = load_tasks(path)
    for field in Task.model_fields:
        if getattr(loaded, field) != getattr(task, field):
            path.unlink()
            raise SpecWriteError(f"{path}: field `{field}` does not load back as it was written")
    return loaded
