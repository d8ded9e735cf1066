"""Real bug fixes from consecutive releases on the package index (`tasks/releases/`), graded as
SWE-bench would grade them.

For every task of the set, on Docker: the reference patch resolves it; a patch that changes no
code (it adds a note file) resolves nothing and fails every FAIL_TO_PASS test; an empty patch
resolves nothing. For the two patches that run the tests, the `swebench` package's own grading
of the very log agentenv produced (its parser, its `get_logs_eval` checks, its report) gives the
same verdict and the same FAIL_TO_PASS/PASS_TO_PASS success and failure lists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.grader import GradeResult, grade
from agentenv.runtime.base import Runtime
from agentenv.tasks.catalog import read_manifest, validation_status
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task
from agentenv.tasks.pypi import parse_spec
from agentenv.tasks.repo import new_file_diff

from .conftest import REPO_ROOT, TEST_LABELS
from .swebench_grading import swebench_report

RELEASES = REPO_ROOT / "tasks" / "releases"
TASKS = load_tasks(RELEASES)  # specs hold their patches: loading needs no index
# A patch that applies and changes no code: the tests run on the release with the bug.
NO_CODE_CHANGE = new_file_diff("NOTES-agentenv.txt", b"nothing here changes the package\n")


def test_the_set_holds_ten_validated_fixes_of_consecutive_releases() -> None:
    assert len(TASKS) >= 10
    packages = Counter(parse_spec(t.repo_source).normalized for t in TASKS)
    assert len(packages) >= 8, packages
    manifest = read_manifest(RELEASES)
    pairs = {source["task"]: source for source in manifest.sources if source.get("task")}
    for task in TASKS:
        assert validation_status(task, manifest.validation.get(task.instance_id)).startswith(
            "yes ("
        ), task.instance_id
        pair = pairs[task.instance_id]
        # The older release is the base, the newer one came right after it on the index.
        assert pair["old"] == task.repo_source and pair["releases_between"] == [], pair
        assert parse_spec(pair["new"]).version == task.metadata.fixed_in
        assert task.patch and task.test_patch and task.FAIL_TO_PASS and not task.hidden_tests
        raw = yaml.safe_load((RELEASES / f"{task.instance_id}.yaml").read_text())
        assert raw["test_patch"] == task.test_patch  # stored, not made from the source
    # Every pair tried is on record: kept, or rejected with its reason.
    assert all(bool(s.get("task")) != bool(s.get("rejected")) for s in manifest.sources)


@pytest.fixture(scope="module")
def starters(base_image: str) -> dict[str, Callable[[], Runtime]]:
    """Every task's image, built at once: most of a cold run is pip installing, which waits on
    the index more than on the cores."""
    settings = RuntimeSettings(kind="docker")
    with ThreadPoolExecutor(max_workers=4) as pool:
        provisioned = pool.map(lambda task: provision(task, settings, labels=TEST_LABELS), TASKS)
        return {task.instance_id: p.start for task, p in zip(TASKS, provisioned, strict=True)}


def _assert_swebench_agrees(task: Task, patch: str, result: GradeResult) -> None:
    ours = result.report.to_swebench(task.instance_id)[task.instance_id]
    theirs = swebench_report(
        task.instance_id,
        task.FAIL_TO_PASS,
        task.PASS_TO_PASS,
        patch,
        result.test_log,
        result.report.test_exit_code,
    )
    assert theirs["patch_successfully_applied"] == ours["patch_successfully_applied"] is True
    assert theirs["resolved"] == ours["resolved"]
    for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        for outcome in ("success", "failure"):
            assert theirs["tests_status"][kind][outcome] == ours["tests_status"][kind][outcome], (
                kind,
                outcome,
            )


@pytest.mark.parametrize("task", TASKS, ids=[t.instance_id for t in TASKS])
def test_the_fix_resolves_and_swebench_grades_the_log_alike(
    starters: dict[str, Callable[[], Runtime]], task: Task
) -> None:
    start = starters[task.instance_id]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two containers: one per core
        fixed, unfixed = pool.map(
            lambda patch: grade(task, patch, start), (task.patch, NO_CODE_CHANGE)
        )

    assert fixed.report.resolved, (
        fixed.report.model_dump(exclude={"tests_status"}),
        fixed.test_log[-3000:],
    )
    _assert_swebench_agrees(task, task.patch, fixed)

    assert unfixed.report.patch_successfully_applied and not unfixed.report.resolved
    assert unfixed.report.tests_status is not None
    assert unfixed.report.tests_status.FAIL_TO_PASS.failure == task.FAIL_TO_PASS
    assert unfixed.report.tests_status.PASS_TO_PASS.success == task.PASS_TO_PASS
    _assert_swebench_agrees(task, NO_CODE_CHANGE, unfixed)

    # Like SWE-bench, an empty patch is not run at all: it exists not, and resolves nothing.
    empty = grade(task, "", start)
    assert not empty.report.resolved and not empty.report.patch_exists
