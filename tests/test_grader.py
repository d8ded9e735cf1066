"""Grading: reference patches resolve, empty ones do not, test edits never count."""

from __future__ import annotations

import pytest

from agentenv.env.provision import Provisioned
from agentenv.grading.grader import grade
from agentenv.tasks.model import Task


@pytest.fixture(params=["docker", "local"])
def provisioned(request: pytest.FixtureRequest) -> dict[str, Provisioned]:
    return request.getfixturevalue(f"{request.param}_provisioned")


def test_reference_patches_resolve_every_demo_task(provisioned, demo_tasks: list[Task]) -> None:
    for task in demo_tasks:
        result = grade(task, task.patch, provisioned[task.instance_id].start)
        report = result.report
        assert report.resolved, f"{task.instance_id}: {report.model_dump_json(indent=1)}\n{result.test_log[-3000:]}"
        assert report.apply_method == "git apply" and report.resolution == "RESOLVED_FULL"
        assert sorted(report.tests_status.FAIL_TO_PASS.success) == sorted(task.FAIL_TO_PASS)
        assert sorted(report.tests_status.PASS_TO_PASS.success) == sorted(task.PASS_TO_PASS)


@pytest.mark.parametrize("patch", [None, "", "  \n"])
def test_empty_patches_resolve_nothing(docker_provisioned, demo_task: Task, patch: str | None) -> None:
    report = grade(demo_task, patch, docker_provisioned[demo_task.instance_id].start).report
    assert not report.resolved and not report.patch_exists
    assert report.patch_is_None == (patch is None)


def test_base_code_with_hidden_tests_fails_the_fail_to_pass_tests(docker_provisioned, demo_task: Task) -> None:
    # A patch that changes only a README: it applies, the tests run, the bug is still there.
    noop = (
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
        "@@ -1 +1,2 @@\n" + f" {_first_line(docker_provisioned, demo_task)}\n" + "+More words.\n"
    )
    report = grade(demo_task, noop, docker_provisioned[demo_task.instance_id].start).report
    assert report.patch_successfully_applied and not report.resolved
    assert sorted(report.tests_status.FAIL_TO_PASS.failure) == sorted(demo_task.FAIL_TO_PASS)
    assert report.resolution == "RESOLVED_NO"


def _first_line(provisioned, task: Task) -> str:
    runtime = provisioned[task.instance_id].start()
    try:
        return runtime.read_file(f"{runtime.repo_dir}/README.md").decode().splitlines()[0]
    finally:
        runtime.close()


def test_edits_to_test_files_are_dropped_before_grading(docker_provisioned, demo_task: Task) -> None:
    # The agent "fixes" the hidden test file by creating it with tests that always pass,
    # and deletes a visible test file; both edits are dropped, so the real tests decide.
    hidden_path = next(p for p in demo_task.test_patch.split() if p.startswith("b/tests/")).removeprefix("b/")
    forged = (
        f"diff --git a/{hidden_path} b/{hidden_path}\nnew file mode 100644\n--- /dev/null\n+++ b/{hidden_path}\n"
        "@@ -0,0 +1,2 @@\n+def test_everything():\n+    pass\n"
    )
    report = grade(demo_task, demo_task.patch + forged, docker_provisioned[demo_task.instance_id].start).report
    assert hidden_path in [d.path for d in report.dropped_files]
    assert report.resolved  # the reference part still resolves it
    only_forged = grade(demo_task, forged, docker_provisioned[demo_task.instance_id].start).report
    assert not only_forged.resolved


def test_a_patch_that_does_not_apply_is_unresolved_not_an_error(docker_provisioned, demo_task: Task) -> None:
    against_a_missing_file = "--- a/nowhere.py\n+++ b/nowhere.py\n@@ -1 +1 @@\n-a\n+b\n"
    result = grade(demo_task, against_a_missing_file, docker_provisioned[demo_task.instance_id].start)
    assert not result.report.resolved and not result.report.patch_successfully_applied
    assert result.report.error is None
    assert "patch --fuzz" in result.test_log and "git apply --reject" in result.test_log  # every fallback was tried
    assert result.report.apply_failure.startswith("no method applied the patch")
    garbage = grade(demo_task, "this is not a diff", docker_provisioned[demo_task.instance_id].start)
    assert not garbage.report.resolved and "not a valid diff" in garbage.report.apply_failure
