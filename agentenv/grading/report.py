"""Grading results in SWE-bench's report format, per instance and per run.

The rules are SWE-bench's (``swebench/harness/grading.py`` and ``reporting.py``):

- a FAIL_TO_PASS test succeeds iff its status is PASSED or XFAIL; FAILED, ERROR, SKIPPED or
  absent from the log is a failure (a patch that makes the test skip has not fixed it);
- a PASS_TO_PASS test is kept iff its status is PASSED, XFAIL or SKIPPED (a skip is not a
  regression); FAILED, ERROR or absent is a failure;
- with f2p = successes / FAIL_TO_PASS tests and p2p likewise (each 1 when its list is
  empty): RESOLVED_FULL iff f2p == 1 and p2p == 1; RESOLVED_PARTIAL iff 0 < f2p < 1 and
  p2p == 1; otherwise RESOLVED_NO. ``resolved`` means RESOLVED_FULL.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from agentenv.grading.guards import DroppedFile
from agentenv.grading.log_parsers import TestStatus

INSTANCE_REPORT_SCHEMA_VERSION = 1
# SWE-bench writes "schema_version": 2 in its run report; ours is the same format.
RUN_REPORT_SCHEMA_VERSION = 2

# The statuses that count as a pass when grading and validating.
PASSING = {TestStatus.PASSED, TestStatus.XFAIL}
_KEPT = PASSING | {TestStatus.SKIPPED}


class ResolvedStatus(StrEnum):
    FULL = "RESOLVED_FULL"
    PARTIAL = "RESOLVED_PARTIAL"
    NO = "RESOLVED_NO"


class TestsOutcome(BaseModel):
    __test__ = False  # not a pytest test class

    success: list[str] = Field(default_factory=list)
    failure: list[str] = Field(default_factory=list)


class TestsStatus(BaseModel):
    """SWE-bench's ``tests_status``. FAIL_TO_FAIL and PASS_TO_FAIL stay empty: SWE-bench
    only fills them for validation runs (``calculate_to_fail``), never when grading."""

    __test__ = False

    FAIL_TO_PASS: TestsOutcome = Field(default_factory=TestsOutcome)
    PASS_TO_PASS: TestsOutcome = Field(default_factory=TestsOutcome)
    FAIL_TO_FAIL: TestsOutcome = Field(default_factory=TestsOutcome)
    PASS_TO_FAIL: TestsOutcome = Field(default_factory=TestsOutcome)


def tests_status(
    statuses: dict[str, TestStatus],
    fail_to_pass: list[str],
    pass_to_pass: list[str],
    *,
    skipped_p2p_kept: bool = True,
) -> TestsStatus:
    """Sort the expected tests into success and failure by their statuses in the log.

    ``skipped_p2p_kept=False`` is agentenv's strict rule: a PASS_TO_PASS test that a patch
    makes skip has not been kept (SWE-bench counts the skip as kept).
    """
    kept = _KEPT if skipped_p2p_kept else PASSING
    f2p = TestsOutcome()
    for test in fail_to_pass:
        status = _status_of(test, statuses)
        (f2p.success if status in PASSING else f2p.failure).append(test)
    p2p = TestsOutcome()
    for test in pass_to_pass:
        status = _status_of(test, statuses)
        (p2p.success if status in kept else p2p.failure).append(test)
    return TestsStatus(FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p)


# Its name starts with "test": pytest would collect it from any test module that imports it.
tests_status.__test__ = False  # type: ignore[attr-defined]


def _status_of(test: str, statuses: dict[str, TestStatus]) -> TestStatus | None:
    """The test's status; None when the log does not have it.

    Some SWE-bench Verified ids are cut off inside their parameters
    (``test_grammar_fail[log(photon``). Like SWE-bench, an id with more '[' than ']' matches
    the ids it is a prefix of, when those all grade alike (all passing or all not).
    """
    if test in statuses:
        return statuses[test]
    if test.count("[") > test.count("]"):
        matches = [status for name, status in statuses.items() if name.startswith(test)]
        if matches and len({status in PASSING for status in matches}) == 1:
            return matches[0]
    return None


def _rate(outcome: TestsOutcome) -> float:
    total = len(outcome.success) + len(outcome.failure)
    # An empty list does not hold the instance back (SWE-bench's rule, empty F2P included).
    return 1.0 if total == 0 else len(outcome.success) / total


def resolution(status: TestsStatus) -> ResolvedStatus:
    f2p, p2p = _rate(status.FAIL_TO_PASS), _rate(status.PASS_TO_PASS)
    if f2p == 1 and p2p == 1:
        return ResolvedStatus.FULL
    if 0 < f2p < 1 and p2p == 1:
        return ResolvedStatus.PARTIAL
    return ResolvedStatus.NO


def log_problem(statuses: dict[str, TestStatus], test_exit_code: int | None) -> str | None:
    """Why the parsed log cannot be trusted, or None. SWE-bench's checks (``get_logs_eval``):

    no test status at all means the tests never ran; a non-zero exit code with no FAILED or
    ERROR test means the log does not describe the run (a patch can print "PASSED" lines).
    """
    if not statuses:
        return "no test results found in the test log"
    if test_exit_code not in (None, 0) and not any(
        status in (TestStatus.FAILED, TestStatus.ERROR) for status in statuses.values()
    ):
        return f"the test command exited with {test_exit_code} but the log shows no failure"
    return None


class InstanceReport(BaseModel):
    """One instance's grade: SWE-bench's report.json entry, plus agentenv's fields.

    SWE-bench's fields are ``patch_is_None`` to ``tests_status``; ``to_swebench`` writes only
    those. The rest are agentenv additions:

    - ``resolution``: FULL / PARTIAL / NO (SWE-bench computes it but keeps only ``resolved``);
    - ``apply_method``: which way of applying the patch worked (e.g. "git apply");
    - ``dropped_files``: the patch's file changes left out before the hidden tests, with the
      reason (a test file, a start-up hook, pytest's configuration, outside the repo...);
    - ``apply_failure``: why no way of applying the patch worked, when none did;
    - ``test_exit_code``: the test command's exit code;
    - ``log_problem``: why the test log could not be trusted (see ``log_problem()``, and the
      grader's cross-check with pytest's own record); SWE-bench grades such a run as
      applied-but-not, unresolved, and so does this report;
    - ``tampering``: the evidence that the code under test tampered with its own test run
      (pytest's machinery replaced, records forged, the canary test passing, the log and the
      record contradicting each other...); a tampered run is never resolved, and like any
      run whose log cannot be believed it has ``patch_successfully_applied`` False and no
      ``tests_status``, as SWE-bench writes for an unreadable log;
    - ``error``: why grading could not finish (None when it did), e.g. the container died.
    """

    schema_version: int = INSTANCE_REPORT_SCHEMA_VERSION
    patch_is_None: bool = False
    patch_exists: bool = False
    patch_successfully_applied: bool = False
    resolved: bool = False
    tests_status: TestsStatus | None = None
    resolution: ResolvedStatus | None = None
    apply_method: str | None = None
    apply_failure: str | None = None
    dropped_files: list[DroppedFile] = Field(default_factory=list)
    test_exit_code: int | None = None
    log_problem: str | None = None
    tampering: list[str] = Field(default_factory=list)
    error: str | None = None

    @classmethod
    def for_missing_patch(cls, patch: str | None) -> InstanceReport:
        """The report for a None or empty patch: nothing to grade.

        SWE-bench never grades an empty patch (``run_evaluation`` leaves it out, and its run
        report counts it under ``empty_patch_ids``), so there is no report.json of its to
        match; ``patch_exists`` is False for both.
        """
        return cls(patch_is_None=patch is None, resolution=ResolvedStatus.NO)

    def to_swebench(self, instance_id: str) -> dict[str, Any]:
        """``{instance_id: {...}}`` with the keys, in the order, that SWE-bench writes."""
        entry: dict[str, Any] = {
            "patch_is_None": self.patch_is_None,
            "patch_exists": self.patch_exists,
            "patch_successfully_applied": self.patch_successfully_applied,
            "resolved": self.resolved,
        }
        if self.tests_status is not None:
            entry["tests_status"] = self.tests_status.model_dump(mode="json")
        return {instance_id: entry}


def graded_report(
    statuses: dict[str, TestStatus],
    fail_to_pass: list[str],
    pass_to_pass: list[str],
    *,
    test_exit_code: int | None = None,
    apply_method: str | None = None,
    dropped_files: Iterable[DroppedFile] = (),
    skipped_p2p_kept: bool = True,
    problem: str | None = None,
    tampering: Iterable[str] = (),
) -> InstanceReport:
    """The report for a patch that applied and whose tests ran.

    When the log cannot be trusted (``log_problem``), the fields SWE-bench writes are what it
    writes then -- ``patch_successfully_applied`` False, no ``tests_status`` -- and the
    report's ``log_problem`` says why. ``problem`` is a reason found by the caller (e.g. the
    log disagrees with pytest's own record); it counts like one found here. ``tampering`` is
    the evidence that the run was tampered with: any makes the report unresolved.
    """
    common: dict[str, Any] = {
        "patch_exists": True,
        "apply_method": apply_method,
        "dropped_files": list(dropped_files),
        "test_exit_code": test_exit_code,
    }
    evidence = list(tampering)
    if evidence:
        return InstanceReport(
            **common,
            resolution=ResolvedStatus.NO,
            log_problem=f"the test run was tampered with: {evidence[0]}",
            tampering=evidence,
        )
    problem = problem or log_problem(statuses, test_exit_code)
    if problem is not None:
        return InstanceReport(**common, resolution=ResolvedStatus.NO, log_problem=problem)
    status = tests_status(statuses, fail_to_pass, pass_to_pass, skipped_p2p_kept=skipped_p2p_kept)
    resolved_status = resolution(status)
    return InstanceReport(
        **common,
        patch_successfully_applied=True,
        resolved=resolved_status is ResolvedStatus.FULL,
        tests_status=status,
        resolution=resolved_status,
    )


class RunReport(BaseModel):
    """SWE-bench's run report (``make_run_report``): the same keys in the same order, so
    ``model_dump()`` is what SWE-bench writes. Id lists are sorted."""

    total_instances: int
    submitted_instances: int
    completed_instances: int
    resolved_instances: int
    unresolved_instances: int
    empty_patch_instances: int
    error_instances: int
    completed_ids: list[str]
    incomplete_ids: list[str]
    empty_patch_ids: list[str]
    submitted_ids: list[str]
    resolved_ids: list[str]
    unresolved_ids: list[str]
    error_ids: list[str]
    schema_version: int = RUN_REPORT_SCHEMA_VERSION


def run_report(
    reports: dict[str, InstanceReport | None], all_instance_ids: list[str]
) -> RunReport:
    """Count a run's outcomes the way SWE-bench does.

    ``reports`` maps instance ids to their grade, None for one not graded. Each instance of
    ``all_instance_ids`` lands in exactly one of: incomplete (no report), empty patch
    (``patch_exists`` False), error (``error`` set; SWE-bench: an instance that ran but left
    no report.json), resolved or unresolved (these two make up completed). Submitted ids are
    those with a report, as SWE-bench counts every prediction, including ids outside the set.
    """
    submitted = sorted(i for i, report in reports.items() if report is not None)
    groups: dict[str, list[str]] = {
        name: [] for name in ("incomplete", "empty", "error", "resolved", "unresolved")
    }
    for instance_id in sorted(set(all_instance_ids)):
        report = reports.get(instance_id)
        if report is None:
            group = "incomplete"
        elif not report.patch_exists:
            group = "empty"
        elif report.error is not None:
            group = "error"
        else:
            group = "resolved" if report.resolved else "unresolved"
        groups[group].append(instance_id)
    completed = sorted(groups["resolved"] + groups["unresolved"])
    return RunReport(
        total_instances=len(all_instance_ids),
        submitted_instances=len(submitted),
        completed_instances=len(completed),
        resolved_instances=len(groups["resolved"]),
        unresolved_instances=len(groups["unresolved"]),
        empty_patch_instances=len(groups["empty"]),
        error_instances=len(groups["error"]),
        completed_ids=completed,
        incomplete_ids=groups["incomplete"],
        empty_patch_ids=groups["empty"],
        submitted_ids=submitted,
        resolved_ids=groups["resolved"],
        unresolved_ids=groups["unresolved"],
        error_ids=groups["error"],
    )
