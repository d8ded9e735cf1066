"""Is a task sound? The reference patch resolves it, its FAIL_TO_PASS tests fail without the
patch, its PASS_TO_PASS tests pass before and after, and no expected test changes its status
from one run to the next (flaky). Every problem found is a reason, in words.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from agentenv.diffs import PatchFormatError
from agentenv.grading.grader import grade, run_without_patch
from agentenv.grading.hidden_run import HiddenTestsDoNotApply
from agentenv.grading.guards import sanitize_patch
from agentenv.grading.log_parsers import TestStatus
from agentenv.grading.report import PASSING
from agentenv.grading.trust import log_problem, statuses_for_grading, tampering_evidence, without_canary
from agentenv.runtime.base import Runtime
from agentenv.tasks.model import Task

VALIDATION_SCHEMA_VERSION = 1


class ValidationResult(BaseModel):
    schema_version: int = VALIDATION_SCHEMA_VERSION
    instance_id: str
    valid: bool
    reasons: list[str] = Field(default_factory=list)
    flaky: list[str] = Field(default_factory=list)
    runs: int
    # Statuses of the expected tests in the last run, without and with the reference patch.
    before: dict[str, str] = Field(default_factory=dict)
    after: dict[str, str] = Field(default_factory=dict)
    duration_s: float = 0.0


def _listed(tests: list[str], limit: int = 5) -> str:
    shown = ", ".join(tests[:limit])
    return shown + (f" and {len(tests) - limit} more" if len(tests) > limit else "")


def _status_text(statuses: dict[str, TestStatus], test: str) -> str:
    status = statuses.get(test)
    return status.value if status is not None else "MISSING"


def validate_task(
    task: Task,
    start_runtime: Callable[[], Runtime],
    *,
    runs: int = 1,
    timeout: float = 1800.0,
) -> ValidationResult:
    started = time.monotonic()
    reasons: list[str] = []
    expected = task.FAIL_TO_PASS + task.PASS_TO_PASS
    if not task.FAIL_TO_PASS:
        reasons.append("FAIL_TO_PASS is empty: nothing shows that the task's problem is solved")
    try:
        _, dropped = sanitize_patch(task.patch, [])
    except PatchFormatError as exc:
        reasons.append(f"the reference patch is not a valid diff: {exc}")
        dropped = []
    if dropped:
        reasons.append(
            "the reference patch changes files that grading leaves out: "
            + "; ".join(f"{d.path} ({d.reason})" for d in dropped)
        )

    befores: list[dict[str, TestStatus]] = []
    afters: list[dict[str, TestStatus]] = []
    for _ in range(runs):
        try:
            run = run_without_patch(task, start_runtime, timeout=timeout)
        except HiddenTestsDoNotApply as exc:
            reasons.append(f"the hidden test patch does not apply to the base commit: {exc}")
            break
        problem = log_problem(run, expected)
        if problem or run.timed_out:
            reasons.append(f"without the reference patch: {problem or 'the tests timed out'}")
        # The base code tampers with nothing: evidence here is a check of ours going wrong on
        # this repository (or a repository that fights its own tests), and the task is unsound.
        evidence = tampering_evidence(run, expected)
        if evidence:
            reasons.append("without the reference patch, the run looks tampered with: " + "; ".join(evidence))
        befores.append(without_canary(run, statuses_for_grading(run)))
        graded = grade(task, task.patch, start_runtime, timeout=timeout)
        report = graded.report
        if not report.patch_successfully_applied and report.apply_failure:
            reasons.append(f"the reference patch does not apply: {report.apply_failure}")
            break
        if report.error or report.log_problem:
            detail = report.error or report.log_problem
            if report.tampering:
                detail = "the run looks tampered with: " + "; ".join(report.tampering)
            reasons.append(f"with the reference patch: {detail}")
        afters.append(graded.statuses)

    before = befores[-1] if befores else {}
    after = afters[-1] if afters else {}
    if befores:
        already = [t for t in task.FAIL_TO_PASS if before.get(t) in PASSING]
        if already:
            reasons.append(f"FAIL_TO_PASS tests already pass without the reference patch: {_listed(already)}")
        broken = [t for t in task.PASS_TO_PASS if before.get(t) not in PASSING]
        if broken:
            reasons.append(
                "PASS_TO_PASS tests do not pass without the reference patch: "
                + _listed([f"{t} ({_status_text(before, t)})" for t in broken])
            )
    if afters:
        unresolved = [t for t in expected if after.get(t) not in PASSING]
        if unresolved:
            reasons.append(
                "tests that do not pass with the reference patch: "
                + _listed([f"{t} ({_status_text(after, t)})" for t in unresolved])
            )
    flaky = sorted(
        {t for series in (befores, afters) for t in expected if len({s.get(t) for s in series}) > 1}
    )
    if flaky:
        reasons.append(f"flaky tests (their status changed across {runs} runs): {_listed(flaky)}")
    return ValidationResult(
        instance_id=task.instance_id,
        valid=not reasons,
        reasons=reasons,
        flaky=flaky,
        runs=runs,
        before={t: _status_text(before, t) for t in expected} if befores else {},
        after={t: _status_text(after, t) for t in expected} if afters else {},
        duration_s=time.monotonic() - started,
    )
