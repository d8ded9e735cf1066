"""Describing task sets: one row per task, counts by package, taxonomy and difficulty, and the
validation status that manifests (`manifest.yaml` of a set) record.

A validation record carries a digest of what validation depends on (the source, the patches,
the tests, the environment); a record whose digest no longer matches the task is shown as
stale rather than trusted."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentenv.files import describe_validation, read_yaml
from agentenv.tasks.directives import test_directives
from agentenv.tasks.loader import task_files, task_folders
from agentenv.tasks.model import Task
from agentenv.tasks.pypi import PypiSourceError, is_pypi, parse_spec
from agentenv.tasks.repo import RepoSourceError, folder_fingerprint, source_kind

MANIFEST = "manifest.yaml"
MANIFEST_SCHEMA_VERSION = 1


class ManifestError(ValueError):
    """A task set's manifest cannot be read; the message names the file and the field."""


class ValidationRecord(BaseModel):
    model_config = ConfigDict(extra="allow")  # what other tools wrote is kept when recording

    valid: bool
    runs: int = 1
    checked_at: str
    reasons: list[str] = Field(default_factory=list)
    # `task_digest` of the task as it was validated; None in records older than the digest.
    task_digest: str | None = None


class Manifest(BaseModel):
    """What a task set is: where its tasks come from and whether they were validated."""

    model_config = ConfigDict(extra="allow")  # what other tools wrote is kept when recording

    schema_version: int = MANIFEST_SCHEMA_VERSION
    name: str
    description: str = ""
    # For synthesized sets: how each package was installed and tested, and what came out.
    sources: list[dict[str, Any]] = Field(default_factory=list)
    validation: dict[str, ValidationRecord] = Field(default_factory=dict)


def read_manifest(folder: Path) -> Manifest:
    """The manifest of one task set folder (an empty one named after the folder if it has none)."""
    path = folder / MANIFEST
    if not path.exists():
        return Manifest(name=folder.name)
    data = read_yaml(path, ManifestError)
    if data is None or isinstance(data, dict):
        data = {"name": folder.name, **(data or {})}
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{path}: {describe_validation(exc)}") from None


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST
    path.write_text(yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False, width=100))
    return path


def _set_folders(root: Path) -> list[Path]:
    """The folders under `root` that hold task files: only their manifests describe tasks (a
    `manifest.yaml` inside a task's source repository is that project's own business)."""
    return sorted({file.parent for file in task_files(root)})


def read_manifests(root: Path) -> dict[str, ValidationRecord]:
    """Every validation record of the manifests of the task sets under `root`, by instance id."""
    records: dict[str, ValidationRecord] = {}
    for folder in _set_folders(root):
        records.update(read_manifest(folder).validation)
    return records


def check_manifests(root: Path) -> None:
    """ManifestError now if a task set's manifest under `root` could not be recorded into."""
    for folder in _set_folders(root):
        read_manifest(folder)


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def task_digest(task: Task) -> str:
    """A hash of everything a validation result depends on, and of nothing else: the wording of
    the problem statement or the metadata can change without making a record stale."""
    kind = source_kind(task.repo_source)
    if kind == "folder":
        source = "folder-" + folder_fingerprint(Path(task.repo_source))
    elif kind == "pypi":
        source = parse_spec(task.repo_source).key  # a pinned release, hash-checked when fetched
    else:
        source = f"commit-{task.base_commit}"  # a commit names its content wherever the clone is
    material = task.model_dump(
        mode="json",
        include={"base_patch", "patch", "test_patch", "hidden_tests", "FAIL_TO_PASS", "PASS_TO_PASS", "environment", "test_cmd", "log_parser"},
    )
    material["source"] = source
    # What the hidden test run names (SWE-bench's directives): a different set of files is a
    # different validation.
    material["test_directives"] = sorted(test_directives(task))
    if task._test_patch_from_hidden_tests:
        # The source and `hidden_tests` already name its content; leaving it out lets tasks
        # loaded without test patches (`tasks ls`, offline) be checked too.
        material["test_patch"] = ""
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]


def readable_task_digest(task: Task) -> str | None:
    """`task_digest`, or None when the task's source cannot be read (a folder that is gone)."""
    try:
        return task_digest(task)
    except (RepoSourceError, PypiSourceError, OSError):
        return None


def record_validation(tasks_path: Path, records: dict[str, ValidationRecord]) -> list[Path]:
    """Write each record into the manifest of the set its task file is in; the manifests written."""
    folders = task_folders(tasks_path)
    by_folder: dict[Path, dict[str, ValidationRecord]] = {}
    for instance_id, record in records.items():
        by_folder.setdefault(folders[instance_id], {})[instance_id] = record
    written = []
    for folder, folder_records in sorted(by_folder.items()):
        manifest = read_manifest(folder)
        manifest.validation.update(folder_records)
        manifest.validation = dict(sorted(manifest.validation.items()))
        written.append(write_manifest(folder, manifest))
    return written


def validation_status(task: Task, record: ValidationRecord | None) -> str:
    if record is None:
        return "-"
    current = readable_task_digest(task)
    if current is None:
        return f"unknown: source unreadable ({record.checked_at[:10]})"
    if record.task_digest is not None and record.task_digest != current:
        return f"stale ({record.checked_at[:10]})"
    return ("yes" if record.valid else "no") + f" ({record.checked_at[:10]})"


def package_of(task: Task) -> str:
    if is_pypi(task.repo_source):
        return parse_spec(task.repo_source).normalized
    return Path(task.repo_source).name if not task.repo_source.endswith(".git") else task.repo_source


def rows(tasks: list[Task], validation: dict[str, ValidationRecord]) -> list[dict[str, str]]:
    table = []
    for task in tasks:
        table.append(
            {
                "task": task.instance_id,
                "package": package_of(task),
                "domain": task.metadata.domain or "-",
                "taxonomy": task.metadata.taxonomy or "-",
                "difficulty": task.metadata.difficulty or "-",
                "tests": f"{len(task.FAIL_TO_PASS)}/{len(task.PASS_TO_PASS)}",
                "validated": validation_status(task, validation.get(task.instance_id)),
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
