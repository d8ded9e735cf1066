"""The task spec: what an episode is about, where its code comes from, and how it is graded.

Field names follow SWE-bench's instance format (``instance_id``, ``base_commit``, ``patch``,
``test_patch``, ``FAIL_TO_PASS``, ``PASS_TO_PASS``), so that its JSONL loads as it is; keys the
model does not know are kept (``extra="allow"``), never an error.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from agentenv.tasks.pypi import PypiSourceError, is_pypi, parse_spec

TASK_SCHEMA_VERSION = 1
DEFAULT_BASE_IMAGE = "agentenv/base:bookworm"
DEFAULT_TEST_CMD = "python -m pytest -rA -p no:cacheprovider"

_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Environment(BaseModel):
    """How the task's image is made: a base image and the commands that install the repo."""

    model_config = ConfigDict(extra="forbid")

    base_image: str = DEFAULT_BASE_IMAGE
    # Run in the repo folder, in order, with the network on (the only time it is on).
    install: list[str] = Field(default_factory=list)


class SpecOrigin(BaseModel):
    """Where a task's environment, test command, log parser and directives came from, when a
    spec of another harness gave them (SWE-bench's, for its instances), and where agentenv's run
    differs from that harness's."""

    model_config = ConfigDict(extra="forbid")

    source: str  # e.g. "swebench==4.1.0"
    repo: str
    version: str
    # The Python the harness runs the instance on.
    python: str | None = None
    deviations: list[str] = Field(default_factory=list)


class Metadata(BaseModel):
    """Free-form description used for filtering and statistics; unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    domain: str | None = None
    taxonomy: str | None = None
    difficulty: str | None = None
    language: str | None = None
    tags: list[str] = Field(default_factory=list)


class Task(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: int = TASK_SCHEMA_VERSION
    instance_id: str
    # A local git repository, a local folder of plain files, a git URL, or pypi:NAME==VERSION
    # (the source distribution from the package index). Relative paths are resolved against
    # the folder of the spec file that names them.
    repo_source: str
    # Required for git sources. For a plain folder it may be left out: the folder's files are
    # the base tree.
    base_commit: str | None = None
    problem_statement: str
    requirements: str | None = None
    patch: str = ""
    test_patch: str = ""
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    environment: Environment = Field(default_factory=Environment)
    # agentenv: applied to the source to make the base tree (a synthesized task's injected bug).
    base_patch: str = ""
    # agentenv: files of the source left out of the agent's repository; when `test_patch` is
    # empty, it is made from them (they come back only when grading).
    hidden_tests: list[str] = Field(default_factory=list)
    test_cmd: str = DEFAULT_TEST_CMD
    # agentenv: what the hidden test run names after `test_cmd`. None (the default): for pytest
    # tasks, the files that `test_patch`, `hidden_tests` and the FAIL_TO_PASS/PASS_TO_PASS ids
    # name, as SWE-bench's test directives; [] runs `test_cmd` as written.
    test_directives: list[str] | None = None
    # How the test log is read: a name in agentenv.grading.log_parsers (pytest, unittest, ...).
    log_parser: str = "pytest"
    metadata: Metadata = Field(default_factory=Metadata)
    # agentenv: set by the loader when a harness's spec filled in the fields above.
    spec_origin: SpecOrigin | None = None
    # Set by the loader when `test_patch` is (or, loaded without it, would be) made from
    # `hidden_tests`: it then says nothing the source and the file names do not.
    _test_patch_from_hidden_tests: bool = PrivateAttr(default=False)

    @field_validator("instance_id")
    @classmethod
    def _instance_id_is_a_safe_name(cls, value: str) -> str:
        # It becomes a file name and part of an image tag.
        if not _INSTANCE_ID.match(value):
            raise ValueError(
                "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'"
            )
        return value

    @field_validator("hidden_tests")
    @classmethod
    def _hidden_tests_are_inside_the_repository(cls, value: list[str]) -> list[str]:
        # They are read from the source to build the test patch: a path that leaves the
        # repository would put a file of the machine loading the task into the grade.
        for path in value:
            parts = PurePosixPath(path).parts
            if not path.strip() or path.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", path):
                raise ValueError(f"{path!r} must be a relative path inside the repository")
        return value

    @field_validator("repo_source")
    @classmethod
    def _pypi_source_names_a_release(cls, value: str) -> str:
        if is_pypi(value):
            try:
                parse_spec(value)
            except PypiSourceError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _test_list_from_json_string(cls, value: Any) -> Any:
        # SWE-bench stores these lists as JSON-encoded strings.
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"a string here must be a JSON list of test ids: {exc}") from exc
            return decoded
        return value

    @model_validator(mode="before")
    @classmethod
    def _swe_bench_repo_to_source(cls, data: Any) -> Any:
        # SWE-bench names the repository as "owner/name" on GitHub.
        if isinstance(data, dict) and "repo_source" not in data and isinstance(data.get("repo"), str):
            data = dict(data)
            data["repo_source"] = f"https://github.com/{data['repo']}.git"
        return data
