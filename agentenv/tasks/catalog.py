"""Describing task sets: one row per task, counts by package, taxonomy and difficulty, and the
validation status that manifests (`manifest.yaml` of a set) record."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from agentenv.tasks.model import Task
from agentenv.tasks.pypi import is_pypi, parse_spec

MANIFEST = "manifest.yaml"
MANIFEST_SCHEMA_VERSION = 1


class ValidationRecord(BaseModel):
    valid: bool
    runs: int = 1
    checked_at: str
    reasons: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    """What a task set is: where its tasks come from and whether they were validated."""

    schema_version: int = MANIFEST_SCHEMA_VERSION
    name: str
    description: str = ""
    # For synthesized sets: how each package was installed and tested, and what came out.
    sources: list[dict[str, Any]] = Field(default_factory=list)
    validation: dict[str, ValidationRecord] = Field(default_factory=dict)


def read_manifests(root: Path) -> dict[str, ValidationRecord]:
    """Every validation record of the manifests under `root`, by instance id."""
    records: dict[str, ValidationRecord] = {}
    folders = [root] if root.is_dir() else [root.parent]
    for folder in folders:
        for path in sorted(folder.rglob(MANIFEST)):
            manifest = Manifest.model_validate(yaml.safe_load(path.read_text()) or {})
            records.update(manifest.validation)
    return records


def package_of(task: Task) -> str:
    if is_pypi(task.repo_source):
        return parse_spec(task.repo_source).normalized
    return Path(task.repo_source).name if not task.repo_source.endswith(".git") else task.repo_source


def rows(tasks: list[Task], validation: dict[str, ValidationRecord]) -> list[dict[str, str]]:
    table = []
    for task in tasks:
        record = validation.get(task.instance_id)
        table.append(
            {
                "task": task.instance_id,
                "package": package_of(task),
                "domain": task.metadata.domain or "-",
                "taxonomy": task.metadata.taxonomy or "-",
                "difficulty": task.metadata.difficulty or "-",
                "tests": f"{len(task.FAIL_TO_PASS)}/{len(task.PASS_TO_PASS)}",
                "validated": "-" if record is None else ("yes" if record.valid else "no") + f" ({record.checked_at[:10]})",
            }
        )
    return table


def stats(tasks: list[Task]) -> dict[str, Counter[str]]:
    return {
        "package": Counter(package_of(t) for t in tasks),
        "taxonomy": Counter(t.metadata.taxonomy or "(none)" for t in tasks),
        "difficulty": Counter(t.metadata.difficulty or "(none)" for t in tasks),
        "language": Counter(t.metadata.language or "(none)" for t in tasks),
    }
