"""The hidden test run names the test files SWE-bench would (its test directives), so a broken,
unrelated test file cannot sink a grade."""

from __future__ import annotations

import shutil
from pathlib import Path

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.grader import grade
from agentenv.tasks.directives import hidden_test_command, test_directives
from agentenv.tasks.model import Task

from .conftest import DEMO_TASKS, TEST_LABELS

TEST_PATCH = (
    "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n"
    "+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_x(): pass\n"
    "diff --git a/tests/test_gone.py b/tests/test_gone.py\ndeleted file mode 100644\n"
    "--- a/tests/test_gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-def test_y(): pass\n"
    "diff --git a/tests/data/expected.json b/tests/data/expected.json\nnew file mode 100644\n"
    "--- /dev/null\n+++ b/tests/data/expected.json\n@@ -0,0 +1 @@\n+{}\n"
    "diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n"
    "+++ b/tests/conftest.py\n@@ -0,0 +1 @@\n+import os\n"
)


def _task(**fields: object) -> Task:
    return Task.model_validate({"instance_id": "t", "repo_source": ".", "problem_statement": "p", **fields})


def test_directives_are_the_test_modules_the_hidden_tests_and_the_test_ids_name() -> None:
    task = _task(
        test_patch=TEST_PATCH,
        hidden_tests=["tests/test_hidden.py"],
        FAIL_TO_PASS=["tests/test_new.py::test_x", "tests/test_a.py::TestA::test_b[1-2]"],
        PASS_TO_PASS=["tests/test_c.py::test_d", "test_without_a_file"],
    )
    # Deleted files, data files and conftest.py are not named; each file once, in order.
    assert test_directives(task) == ["tests/test_new.py", "tests/test_hidden.py", "tests/test_a.py", "tests/test_c.py"]
    assert hidden_test_command(task) == (
        "python -m pytest -rA -p no:cacheprovider tests/test_new.py tests/test_hidden.py tests/test_a.py tests/test_c.py"
    )


def test_a_task_can_name_its_own_directives_or_none() -> None:
    assert hidden_test_command(_task(test_patch=TEST_PATCH, test_directives=[])) == "python -m pytest -rA -p no:cacheprovider"
    odd = _task(test_cmd="./runtests.py", test_directives=["a b", "c"], log_parser="unittest")
    assert hidden_test_command(odd) == "./runtests.py 'a b' c"
    # Other runners name tests their own way: nothing is guessed for them.
    assert hidden_test_command(_task(test_cmd="./runtests.py", log_parser="unittest", test_patch=TEST_PATCH)) == "./runtests.py"


def test_an_unrelated_test_file_that_cannot_import_does_not_sink_the_grade(base_image, demo_task: Task, tmp_path: Path) -> None:
    # A real repository often has a test file for an optional backend that is not installed.
    repo = tmp_path / "spanlib"
    shutil.copytree(DEMO_TASKS / "repos" / "spanlib", repo)
    (repo / "tests" / "test_optional_backend.py").write_text("import backend_not_installed\n\n\ndef test_fast(): pass\n")
    fields = demo_task.model_dump(include={"problem_statement", "patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "environment"})
    task = Task(instance_id="spanlib-with-optional-backend", repo_source=str(repo), test_cmd="python -m pytest -rA -p no:cacheprovider", **fields)
    provisioned = provision(task, RuntimeSettings(kind="docker"), labels=TEST_LABELS)

    whole_suite = grade(task.model_copy(update={"test_directives": []}), task.patch, provisioned.start)
    assert not whole_suite.report.resolved, "control: the whole suite stops at the broken file"
    assert "error during collection" in whole_suite.test_log

    report = grade(task, task.patch, provisioned.start).report
    assert report.resolved, report.model_dump_json(indent=1)
    assert sorted(report.tests_status.PASS_TO_PASS.success) == sorted(task.PASS_TO_PASS)


def test_every_parser_of_pytest_output_gets_directives_and_pytests_record() -> None:
    from agentenv.grading.log_parsers import PYTEST_ID_FORMS
    from agentenv.tasks.directives import PYTEST_LOG_PARSERS

    assert set(PYTEST_ID_FORMS) == PYTEST_LOG_PARSERS
    options = _task(log_parser="pytest_options", FAIL_TO_PASS=["tests/test_a.py::test_b[/abs/path]"])
    assert test_directives(options) == ["tests/test_a.py"]
