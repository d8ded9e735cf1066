"""Tasks from real bug fixes: two consecutive releases of a package on the index.

For `pypi:NAME==OLD` and `pypi:NAME==NEW`:
- the base tree is OLD's sdist (`repo_source: pypi:NAME==OLD`), installed with pytest;
- the diff OLD -> NEW is split (see `release_diff`): its test files are the hidden
  `test_patch`, its package code the reference `patch`, release noise is left out;
- the test patch's test modules are run on OLD with the test patch (before) and with the
  reference patch too (after), by the grader itself (`grade`, the first time with a patch that
  changes no code), so the lists mean what grading will see: FAIL_TO_PASS are the tests that
  fail (or are missing) before and pass after, PASS_TO_PASS every test of those modules that
  passes on both;
- the problem statement is the newer release's notes about itself, when it has some, or the
  failing tests' output (as for synthesized tasks);
- the task is written, loaded back and validated; an invalid one is deleted.

Each pair tried gives a `PairRecord` (kept or rejected, and why) for the set's manifest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.grader import GradeResult, grade
from agentenv.grading.log_parsers import TestStatus
from agentenv.grading.report import PASSING
from agentenv.grading.validate import validate_task
from agentenv.runtime.images import ImageBuildError
from agentenv.synth.problem import bug_report
from agentenv.synth.release_diff import DroppedChange, ReleaseDiff, split_release
from agentenv.synth.spec_file import write_task_file
from agentenv.tasks.directives import default_directives
from agentenv.tasks.model import Environment, Metadata, Task
from agentenv.tasks.pypi import PypiSpec, parse_spec, sdist_versions
from agentenv.tasks.repo import RepoSourceError, new_file_diff

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

# pytest first: a package that pytest itself depends on (iniconfig, pluggy, packaging...)
# installed before it would be replaced by the index's newest release, and the tests would
# run against that instead of the repository.
DEFAULT_INSTALL = [
    "python -m pip install --no-cache-dir 'pytest>=8,<9'",
    "python -m pip install --no-cache-dir -e .",
]
# The package's own addopts often name plugins (coverage, xdist) the tests do not need; the
# grader appends the test modules of the test patch (SWE-bench's directives). A new test module
# that cannot be imported on the older release (it imports what the fix adds) fails its own
# tests, not every test of the run: pytest would otherwise stop at the collection error, and
# every test of every module would be FAIL_TO_PASS.
DEFAULT_TEST_CMD = (
    "python -m pytest -rA -p no:cacheprovider -o addopts='' --continue-on-collection-errors"
)
TAXONOMY = "release-fix"
# What the tests are run with to see the older release as it is: a patch that applies and
# changes no code (grading an empty patch runs nothing).
NO_CODE_CHANGE = new_file_diff("AGENTENV-BASELINE.txt", b"The tests run on the release as it is.\n")
StatementSource = Literal["auto", "release-notes", "failing-tests"]


class ReleasePairError(ValueError):
    """The two sources cannot make a task (not one package, not in order...); says why."""


class ReleasePair(BaseModel):
    """What to make a task from, and how to install and test it."""

    old: str  # pypi:NAME==OLD, the base
    new: str  # pypi:NAME==NEW, whose changes hold the fix and its tests
    install: list[str] = Field(default_factory=lambda: list(DEFAULT_INSTALL))
    test_cmd: str = DEFAULT_TEST_CMD
    statement: StatementSource = "auto"
    # Refuse a pair with releases between them unless told otherwise: the diff of two releases
    # far apart is many changes, not one fix.
    allow_gap: bool = False
    # A new test that hangs on the older release (a loop the fix ends) is cut off here.
    test_timeout: float = 300.0


class PairRecord(BaseModel):
    """One pair tried, as the set's manifest records it."""

    old: str
    new: str
    install: list[str]
    test_cmd: str
    # Final releases on the index between OLD and NEW (empty: consecutive); None when the
    # versions are not plain release numbers and so were not compared.
    releases_between: list[str] | None = None
    task: str | None = None
    rejected: str | None = None
    patch_files: list[str] = Field(default_factory=list)
    test_files: list[str] = Field(default_factory=list)
    dropped: list[DroppedChange] = Field(default_factory=list)
    fail_to_pass: int = 0
    pass_to_pass: int = 0
    # Tests of the test modules that fail even with the fix (left out of both lists).
    failing_with_fix: list[str] = Field(default_factory=list)
    # Passing tests whose ids hold whitespace, left out of both lists: SWE-bench's log parser
    # cuts such ids at the first space, so its grading would find them missing.
    left_out: list[str] = Field(default_factory=list)
    statement_from: str | None = None


def _release_key(version: str) -> tuple[int, ...] | None:
    return (
        tuple(int(part) for part in version.split("."))
        if re.fullmatch(r"\d+(\.\d+)*", version)
        else None
    )


def releases_between(old: PypiSpec, new: PypiSpec) -> list[str] | None:
    """The final releases with an sdist on the index strictly between OLD and NEW, or None
    when the versions are not plain release numbers (then they are not ordered here)."""
    low, high = _release_key(old.version), _release_key(new.version)
    if low is None or high is None:
        return None
    if high <= low:
        raise ReleasePairError(
            f"{new.name}=={new.version} is not a later release than {old.version}"
        )
    keyed = [(key, v) for v in sdist_versions(old.name) if (key := _release_key(v)) is not None]
    return [v for key, v in sorted(keyed) if low < key < high]


def _specs(pair: ReleasePair) -> tuple[PypiSpec, PypiSpec]:
    old, new = parse_spec(pair.old), parse_spec(pair.new)
    if old.normalized != new.normalized:
        raise ReleasePairError(f"{pair.old} and {pair.new} are releases of different packages")
    if old.version == new.version:
        raise ReleasePairError(f"{pair.old} and {pair.new} are the same release")
    return old, new


def instance_id(old: PypiSpec, new: PypiSpec) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{old.normalized}-{old.version}-to-{new.version}")


def _changed_lines(patch: str) -> int:
    return sum(
        1 for line in patch.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def _difficulty(patch: str) -> str:
    lines = _changed_lines(patch)
    return "easy" if lines <= 10 else "medium" if lines <= 60 else "hard"


def release_notes_statement(name: str, version: str, notes: str) -> str:
    return (
        f"An issue in {name} {version}\n\n"
        f"The project's release notes describe what has to change in {name} {version}:\n\n"
        f"{notes.strip()}\n\n"
        f"Make {name} behave as described."
    )


def _draft(pair: ReleasePair, old: PypiSpec, new: PypiSpec, diff: ReleaseDiff) -> Task:
    return Task(
        instance_id=instance_id(old, new),
        repo_source=pair.old,
        problem_statement="(written once the failing tests are known)",
        patch=diff.patch,
        test_patch=diff.test_patch,
        test_cmd=pair.test_cmd,
        environment=Environment(install=pair.install),
        metadata=Metadata(
            domain=old.normalized,
            taxonomy=TAXONOMY,
            difficulty=_difficulty(diff.patch),
            language="python",
            tags=[TAXONOMY, old.normalized],
            package=old.name,
            version=old.version,
            fixed_in=new.version,
        ),
    )


def _unusable(diff: ReleaseDiff, draft: Task) -> str | None:
    if not diff.patch.strip():
        return (
            "the newer release changes no package code (only "
            + (", ".join(sorted({d.reason for d in diff.dropped})) or "nothing")
            + ")"
        )
    if not diff.test_patch.strip():
        return "the newer release changes no test file: nothing shows the fix"
    if not default_directives(draft):
        return "the newer release's test changes hold no test module (only data or conftest.py)"
    return None


class _Lists(BaseModel):
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    failing_with_fix: list[str]
    left_out: list[str]


def sort_tests(
    modules: set[str], before: dict[str, TestStatus], after: dict[str, TestStatus]
) -> _Lists:
    """FAIL_TO_PASS and PASS_TO_PASS from the statuses of the test modules' tests on OLD with
    the test patch (`before`) and with the reference patch as well (`after`). A test skipped
    before is neither: it neither failed nor passed there."""
    ours = sorted(t for t in after if t.split("::", 1)[0] in modules)
    passing = [t for t in ours if after[t] in PASSING]
    left_out = [t for t in passing if any(c.isspace() for c in t)]
    kept = [t for t in passing if t not in left_out]
    return _Lists(
        fail_to_pass=[t for t in kept if before.get(t) not in PASSING | {TestStatus.SKIPPED}],
        pass_to_pass=[t for t in kept if before.get(t) in PASSING],
        failing_with_fix=[t for t in ours if after[t] not in PASSING | {TestStatus.SKIPPED}],
        left_out=left_out,
    )


def task_from_releases(
    pair: ReleasePair,
    out_dir: Path,
    *,
    runs: int = 2,
    settings: RuntimeSettings | None = None,
    progress: Progress = log.info,
) -> PairRecord:
    """Make, write and validate the task of one pair of releases; the record says what came
    out (a task, or why not). Raises ReleasePairError for a pair that is not one at all."""
    old, new = _specs(pair)
    record = PairRecord(old=pair.old, new=pair.new, install=pair.install, test_cmd=pair.test_cmd)
    record.releases_between = releases_between(old, new)
    if record.releases_between and not pair.allow_gap:
        raise ReleasePairError(
            f"{old.name} has releases between {old.version} and {new.version} "
            f"({', '.join(record.releases_between[:5])}): pass the next one, or allow the gap"
        )
    progress(f"comparing {old.name} {old.version} with {new.version}")
    diff = split_release(pair.old, pair.new, old.version, new.version)
    record.patch_files, record.test_files, record.dropped = (
        diff.patch_files,
        diff.test_files,
        diff.dropped,
    )
    draft = _draft(pair, old, new, diff)
    record.rejected = _unusable(diff, draft)
    if record.rejected:
        return record
    settings = settings or RuntimeSettings(kind="docker")
    try:
        progress(f"building the environment of {pair.old} and running the new tests")
        start = provision(draft, settings).start
    except (ImageBuildError, RepoSourceError) as exc:
        record.rejected = f"its environment cannot be made: {exc}"
        return record
    before = grade(draft, NO_CODE_CHANGE, start, timeout=pair.test_timeout)
    after = grade(draft, draft.patch, start, timeout=pair.test_timeout)
    record.rejected = _run_problem("without the fix", before) or _run_problem("with the fix", after)
    if record.rejected:
        return record
    lists = sort_tests(set(default_directives(draft)), before.statuses, after.statuses)
    record.fail_to_pass, record.pass_to_pass = len(lists.fail_to_pass), len(lists.pass_to_pass)
    record.failing_with_fix, record.left_out = lists.failing_with_fix, lists.left_out
    if not lists.fail_to_pass:
        record.rejected = f"no test of the new tests fails on {old.version} and passes with the fix"
        return record
    if pair.statement == "release-notes" and not diff.release_notes.strip():
        record.rejected = f"{new.version} has no release notes to state the problem with"
        return record
    if pair.statement != "failing-tests" and diff.release_notes.strip():
        statement = release_notes_statement(old.name, old.version, diff.release_notes)
        record.statement_from = "release notes"
    else:
        statement = bug_report(old.name, old.version, lists.fail_to_pass, before.test_log)
        record.statement_from = "failing tests"
    task = draft.model_copy(
        update={
            "problem_statement": statement,
            "FAIL_TO_PASS": lists.fail_to_pass,
            "PASS_TO_PASS": lists.pass_to_pass,
        }
    )
    path = out_dir / f"{task.instance_id}.yaml"
    written = write_task_file(task, path)
    progress(f"validating {task.instance_id} ({runs} runs)")
    result = validate_task(
        written, provision(written, settings).start, runs=runs, timeout=pair.test_timeout
    )
    if not result.valid:
        path.unlink()
        record.rejected = "invalid: " + "; ".join(result.reasons)
        return record
    record.task = task.instance_id
    return record


def _run_problem(which: str, result: GradeResult) -> str | None:
    """Why a run of the new tests says nothing (it did not finish, a patch did not apply, the
    grader does not believe its log), or None."""
    report = result.report
    if report.patch_successfully_applied and not report.error:
        return None
    reason = (
        report.apply_failure
        or report.error
        or report.log_problem
        or "the grader could not read the test run"
    )
    return f"the new tests' run {which} says nothing: {reason}"
