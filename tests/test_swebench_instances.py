"""Real SWE-bench instances, graded the SWE-bench way on real code, and checked against
swebench's own grading of the same logs.

GitHub cannot be reached here, so each instance's source is the release of its project on the
package index nearest its base commit (`repo_source` in the fixture); everything else is the
instance as SWE-bench publishes it (`tests/fixtures/swebench/instances.jsonl`):
- pallets__flask-5014 (flask 2.3, SWE-bench Verified) on Flask 2.3.0, the first release after
  its base commit, less the instance's fix and test (`base_patch`: with them taken out, its
  tests/test_blueprints.py is the base commit's, blob d46b769), with swebench's spec as it is:
  requirements/dev.txt, the pinned packages (Werkzeug 2.3.7), `pytest -rA` on the test patch's
  file. Flask 2.2.3, the release before the base commit, fails 45 of the 59 PASS_TO_PASS tests
  under that Werkzeug (its DeprecationWarnings are errors in Flask's pytest settings);
- django__django-15781 (django 4.2, SWE-bench Lite) on Django 4.0.5, the release before its
  base commit, with the task's own install (`pip install -e .`: with the spec's
  tests/requirements/py3.txt the build stops at pywatchman, which needs a C compiler that
  agentenv's base image lacks and SWE-bench's has), Django's runner on the test modules in
  Django's dotted form, and swebench's Django log parser.
"""

from __future__ import annotations

import re

import pytest
from swebench.harness.constants import ResolvedStatus
from swebench.harness.grading import get_eval_tests_report, get_resolution_status
from swebench.harness.log_parsers import MAP_REPO_TO_PARSER

from agentenv.env.provision import Provisioned, RuntimeSettings, provision
from agentenv.grading.grader import GradeResult, TestRun, grade, run_without_patch, statuses_for_grading
from agentenv.grading.report import PASSING
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task

from .conftest import REPO_ROOT, TEST_LABELS

INSTANCES = REPO_ROOT / "tests" / "fixtures" / "swebench" / "instances.jsonl"


@pytest.fixture(scope="module")
def instances(base_image: str) -> dict[str, tuple[Task, Provisioned]]:
    tasks = load_tasks(INSTANCES)
    return {t.instance_id: (t, provision(t, RuntimeSettings(kind="docker"), labels=TEST_LABELS)) for t in tasks}


@pytest.fixture(scope="module")
def runs(instances) -> dict[str, tuple[GradeResult, TestRun]]:
    """Each instance graded with its reference patch, and its hidden tests run on the base code
    (once per module: the runs are what the tests look at)."""
    return {
        instance_id: (grade(task, task.patch, provisioned.start), run_without_patch(task, provisioned.start))
        for instance_id, (task, provisioned) in instances.items()
    }


def as_python_39_prints_it(log: str) -> str:
    """The log with unittest's test names as Python < 3.11 prints them: "test_x (mod.Class)",
    not "test_x (mod.Class.test_x)" -- the only difference in the verbose output, and the form
    SWE-bench's Django ids were collected in (on Python 3.9)."""
    return re.sub(r"^(\w+) \(([\w.]+)\.\1\)", r"\1 (\2)", log, flags=re.M)


def swebench_resolution(task: Task, log: str) -> str:
    """SWE-bench's own verdict on a test log: its parser for the repository, its report."""
    repo = task.model_dump()["repo"]
    if repo == "django/django":
        log = as_python_39_prints_it(log)
    status_map = {test: str(getattr(s, "value", s)) for test, s in MAP_REPO_TO_PARSER[repo](log, None).items()}
    report = get_eval_tests_report(status_map, {"FAIL_TO_PASS": task.FAIL_TO_PASS, "PASS_TO_PASS": task.PASS_TO_PASS})
    return get_resolution_status(report)


@pytest.mark.parametrize("instance_id", ["pallets__flask-5014", "django__django-15781"])
def test_the_reference_patch_resolves_and_swebench_agrees(instances, runs, instance_id: str) -> None:
    task, _ = instances[instance_id]
    graded, _ = runs[instance_id]
    assert graded.report.resolved, graded.report.model_dump_json(indent=1)
    assert sorted(graded.report.tests_status.PASS_TO_PASS.success) == sorted(task.PASS_TO_PASS)
    assert swebench_resolution(task, graded.test_log) == ResolvedStatus.FULL.value


def test_swebench_reading_python_311s_django_log_as_it_is_finds_none_of_its_tests(instances, runs) -> None:
    # Why agentenv's Django parser names tests as Python 3.9 did (swebench_unittest_id): the
    # same log read by swebench's parser as it is matches no PASS_TO_PASS id.
    task, _ = instances["django__django-15781"]
    log = runs["django__django-15781"][0].test_log
    assert "test_check_migrations (user_commands.tests.CommandTests.test_check_migrations) ... ok" in log
    status_map = {t: str(getattr(s, "value", s)) for t, s in MAP_REPO_TO_PARSER["django/django"](log, None).items()}
    report = get_eval_tests_report(status_map, {"FAIL_TO_PASS": task.FAIL_TO_PASS, "PASS_TO_PASS": task.PASS_TO_PASS})
    assert "test_check_migrations (user_commands.tests.CommandTests)" in report["PASS_TO_PASS"]["failure"]


@pytest.mark.parametrize("instance_id", ["pallets__flask-5014", "django__django-15781"])
def test_without_the_fix_it_is_not_resolved_and_swebench_agrees(instances, runs, instance_id: str) -> None:
    task, provisioned = instances[instance_id]
    assert not grade(task, "", provisioned.start).report.resolved
    # The hidden tests on the base code: the FAIL_TO_PASS tests fail, the others pass.
    run = runs[instance_id][1]
    statuses = statuses_for_grading(run)
    assert all(statuses.get(t) not in PASSING for t in task.FAIL_TO_PASS), {t: statuses.get(t) for t in task.FAIL_TO_PASS}
    assert all(statuses.get(t) in PASSING for t in task.PASS_TO_PASS)
    assert swebench_resolution(task, run.log) == ResolvedStatus.NO.value
