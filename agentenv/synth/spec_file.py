"""Writing a task spec as YAML that a person can read: the long texts (the problem statement,
the patches) as block scalars, and checked to load back byte for byte."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from agentenv.files import write_atomically
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task

LONG_TEXTS = ("problem_statement", "patch", "test_patch", "base_patch")
# Line breaks other than "\n" and control characters (a tab aside) do not survive a block
# scalar: a text holding one is written quoted.
_NOT_FOR_A_BLOCK = re.compile(r"[\r\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]")


class SpecWriteError(ValueError):
    """A task would not load back as it was written; names the file and the field."""


class _Block(str):
    pass


class _Dumper(yaml.SafeDumper):
    def analyze_scalar(self, scalar: str) -> Any:
        # PyYAML quotes any text with a blank before a line break, which is every diff with an
        # empty context line (" \n"); YAML's literal style keeps such blanks as they are.
        analysis = super().analyze_scalar(scalar)
        if "\n" in scalar and not _NOT_FOR_A_BLOCK.search(scalar):
            analysis.allow_block = True
        return analysis


_Dumper.add_representer(
    _Block, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
)


def task_yaml(task: Task) -> str:
    """The task as YAML, long texts as block scalars when they load back exactly so. Fields
    left at their defaults are not written (the schema version always is): a field the task
    model gains later does not change the files already written."""
    data = {
        "schema_version": task.schema_version,
        **task.model_dump(mode="json", exclude_defaults=True),
    }
    readable = dict(data)
    for key in LONG_TEXTS:
        value = data.get(key)
        if isinstance(value, str) and "\n" in value and not _NOT_FOR_A_BLOCK.search(value):
            readable[key] = _Block(value)
    text = yaml.dump(readable, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    if yaml.safe_load(text) != data:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return text


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
