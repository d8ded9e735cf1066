"""SWE-bench's grading rules and report formats, case by case."""

from __future__ import annotations

import json

import pytest

from agentenv.grading.guards import DroppedFile
from agentenv.grading.log_parsers import TestStatus
from agentenv.grading.report import (
    InstanceReport,
    ResolvedStatus,
    RunReport,
    TestsOutcome,
    TestsStatus,
    graded_report,
    log_problem,
    resolution,
    run_report,
    tests_status,
)

P, F, E, S, X = (
    TestStatus.PASSED, TestStatus.FAILED, TestStatus.ERROR, TestStatus.SKIPPED, TestStatus.XFAIL,
)
FULL, PARTIAL, NO = ResolvedStatus.FULL, ResolvedStatus.PARTIAL, ResolvedStatus.NO


@pytest.mark.parametrize(
    ("status", "f2p_passes", "p2p_kept"),
    [
        (P, True, True),
        (X, True, True),
        (S, False, True),  # a skip fixes nothing, and breaks nothing
        (F, False, False),
        (E, False, False),
        (None, False, False),  # absent from the log
    ],
)
def test_each_status_in_each_list(
    status: TestStatus | None, f2p_passes: bool, p2p_kept: bool
) -> None:
    statuses = {} if status is None else {"t": status}
    result = tests_status(statuses, ["t"], ["t"])
    assert result.FAIL_TO_PASS == TestsOutcome(
        success=["t"] if f2p_passes else [], failure=[] if f2p_passes else ["t"]
    )
    assert result.PASS_TO_PASS == TestsOutcome(
        success=["t"] if p2p_kept else [], failure=[] if p2p_kept else ["t"]
    )
    assert result.FAIL_TO_FAIL == result.PASS_TO_FAIL == TestsOutcome()


def test_lists_keep_the_order_of_the_task() -> None:
    statuses = {"c": P, "a": F, "b": P}
    result = tests_status(statuses, ["c", "a", "b"], [])
    assert result.FAIL_TO_PASS == TestsOutcome(success=["c", "b"], failure=["a"])


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"t.py::test_g[log(photon)]": P, "t.py::test_g[log(x)]": X}, "success"),
        ({"t.py::test_g[log(photon)]": F}, "failure"),
        ({"t.py::test_g[log(photon)]": P, "t.py::test_g[log(x)]": F}, "failure"),  # ambiguous
        ({"t.py::other": P}, "failure"),
    ],
)
def test_ids_cut_off_inside_their_brackets_match_by_prefix(
    statuses: dict[str, TestStatus], expected: str
) -> None:
    result = tests_status(statuses, ["t.py::test_g[log("], [])
    assert getattr(result.FAIL_TO_PASS, expected) == ["t.py::test_g[log("]


def outcome(success: int, failure: int, name: str) -> TestsOutcome:
    return TestsOutcome(
        success=[f"{name}{i}" for i in range(success)],
        failure=[f"{name}x{i}" for i in range(failure)],
    )


@pytest.mark.parametrize(
    ("f2p", "p2p", "expected"),
    [
        ((2, 0), (3, 0), FULL),
        ((0, 0), (0, 0), FULL),  # nothing to check: SWE-bench calls both rates 1
        ((0, 0), (3, 0), FULL),
        ((2, 0), (0, 0), FULL),
        ((1, 1), (3, 0), PARTIAL),
        ((1, 2), (0, 0), PARTIAL),
        ((0, 2), (3, 0), NO),
        ((2, 0), (3, 1), NO),  # a regression undoes a full fix
        ((1, 1), (3, 1), NO),
        ((0, 0), (0, 1), NO),
        ((0, 1), (0, 0), NO),
    ],
)
def test_resolution_rules(
    f2p: tuple[int, int], p2p: tuple[int, int], expected: ResolvedStatus
) -> None:
    status = TestsStatus(FAIL_TO_PASS=outcome(*f2p, "f"), PASS_TO_PASS=outcome(*p2p, "p"))
    assert resolution(status) is expected


@pytest.mark.parametrize(
    ("statuses", "exit_code", "problem"),
    [
        ({"t": P}, 0, None),
        ({"t": P}, None, None),
        ({"t": F}, 1, None),
        ({"t": E}, 2, None),
        ({}, 0, "no test results"),
        ({}, None, "no test results"),
        ({"t": P}, 1, "exited with 1 but the log shows no failure"),
        ({"t": S, "u": X}, 137, "exited with 137"),
    ],
)
def test_log_problems(
    statuses: dict[str, TestStatus], exit_code: int | None, problem: str | None
) -> None:
    found = log_problem(statuses, exit_code)
    assert found is None if problem is None else problem in found


def test_graded_report_of_a_fix() -> None:
    report = graded_report(
        {"f1": P, "p1": P, "p2": S},
        ["f1"],
        ["p1", "p2"],
        test_exit_code=0,
        apply_method="git apply --verbose",
        dropped_files=[DroppedFile(path="tests/test_x.py", reason="a test file")],
    )
    assert report.resolved and report.resolution is FULL
    assert report.patch_exists and report.patch_successfully_applied and not report.patch_is_None
    assert report.tests_status is not None
    assert report.tests_status.PASS_TO_PASS.success == ["p1", "p2"]
    assert report.dropped_files == [DroppedFile(path="tests/test_x.py", reason="a test file")]
    assert report.log_problem is None and report.error is None


def test_graded_report_of_a_partial_fix() -> None:
    report = graded_report({"f1": P, "f2": F}, ["f1", "f2"], [], test_exit_code=1)
    assert not report.resolved and report.resolution is PARTIAL


def test_graded_report_of_an_untrustworthy_log_is_what_swe_bench_writes() -> None:
    report = graded_report({"f1": P}, ["f1"], [], test_exit_code=1, apply_method="git apply")
    assert report.log_problem is not None and report.error is None
    assert report.to_swebench("i") == {
        "i": {
            "patch_is_None": False,
            "patch_exists": True,
            "patch_successfully_applied": False,
            "resolved": False,
        }
    }


def test_to_swebench_has_exactly_swe_bench_keys_in_order() -> None:
    report = graded_report({"f1": P, "p1": F}, ["f1"], ["p1"], test_exit_code=1)
    data = report.to_swebench("owner__repo-1")
    assert list(data) == ["owner__repo-1"]
    entry = data["owner__repo-1"]
    assert list(entry) == [
        "patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status",
    ]
    assert list(entry["tests_status"]) == [
        "FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL",
    ]
    assert entry["tests_status"]["PASS_TO_PASS"] == {"success": [], "failure": ["p1"]}
    assert entry["resolved"] is False
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize(("patch", "is_none"), [(None, True), ("", False)])
def test_missing_patch_reports(patch: str | None, is_none: bool) -> None:
    report = InstanceReport.for_missing_patch(patch)
    assert report.to_swebench("i")["i"] == {
        "patch_is_None": is_none,
        "patch_exists": False,
        "patch_successfully_applied": False,
        "resolved": False,
    }


def test_instance_report_round_trips_through_json_with_its_schema_version() -> None:
    report = graded_report({"f": P}, ["f"], [], apply_method="patch", dropped_files=[DroppedFile(path="t.py", reason="a test file")])
    data = json.loads(report.model_dump_json())
    assert data["schema_version"] == 1
    assert InstanceReport.model_validate(data) == report


SWE_BENCH_RUN_REPORT_KEYS = [
    "total_instances", "submitted_instances", "completed_instances", "resolved_instances",
    "unresolved_instances", "empty_patch_instances", "error_instances", "completed_ids",
    "incomplete_ids", "empty_patch_ids", "submitted_ids", "resolved_ids", "unresolved_ids",
    "error_ids", "schema_version",
]


def test_run_report_sorts_every_instance_into_one_group() -> None:
    resolved = graded_report({"f": P}, ["f"], [])
    unresolved = graded_report({"f": F}, ["f"], [], test_exit_code=1)
    not_applied = InstanceReport(patch_exists=True, resolution=NO)
    untrusted_log = graded_report({}, ["f"], [])
    reports: dict[str, InstanceReport | None] = {
        "r2": resolved,
        "r1": resolved,
        "u1": unresolved,
        "u2": not_applied,
        "u3": untrusted_log,
        "e1": InstanceReport(patch_exists=True, error="container died"),
        "n1": InstanceReport.for_missing_patch(None),
        "n2": InstanceReport.for_missing_patch(""),
        "i1": None,
        "extra": resolved,  # a prediction for an instance outside the set
    }
    all_ids = ["r1", "r2", "u1", "u2", "u3", "e1", "n1", "n2", "i1", "i2"]
    report = run_report(reports, all_ids)
    assert report == RunReport(
        total_instances=10,
        submitted_instances=9,
        completed_instances=5,
        resolved_instances=2,
        unresolved_instances=3,
        empty_patch_instances=2,
        error_instances=1,
        completed_ids=["r1", "r2", "u1", "u2", "u3"],
        incomplete_ids=["i1", "i2"],
        empty_patch_ids=["n1", "n2"],
        submitted_ids=["e1", "extra", "n1", "n2", "r1", "r2", "u1", "u2", "u3"],
        resolved_ids=["r1", "r2"],
        unresolved_ids=["u1", "u2", "u3"],
        error_ids=["e1"],
        schema_version=2,
    )
    assert list(report.model_dump()) == SWE_BENCH_RUN_REPORT_KEYS


def test_run_report_of_nothing() -> None:
    report = run_report({}, [])
    assert report.total_instances == 0 and report.completed_ids == []
    assert report.schema_version == 2
