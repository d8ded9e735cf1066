"""Metrics over grades, and the rewards an env can give.

- pass@k: the unbiased estimator of Chen et al. (2021), from n samples of which c are correct.
- strict accuracy and test-case average: APPS (Hendrycks et al., 2021): the share of problems
  whose tests all pass, and the mean share of passing tests per problem.
- RLTF rewards (Liu et al., 2023, after CodeRL): coarse by outcome (pass 1.0, tests fail -0.3,
  runtime error -0.6, compile error -1.0; here: resolved, tests fail, tests error or untrusted
  log, patch does not apply), and adaptive for failing runs: -0.3 + 1.3 x the share of passing
  tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import comb
from typing import Literal

from agentenv.grading.report import InstanceReport

RewardKind = Literal["binary", "pass_ratio", "rltf"]
RLTF_PASS, RLTF_FAIL, RLTF_ERROR, RLTF_NOT_APPLIED = 1.0, -0.3, -0.6, -1.0


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) is correct."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def expected_tests(report: InstanceReport) -> tuple[int, int]:
    """(passing, total) over the FAIL_TO_PASS and PASS_TO_PASS tests of a graded report."""
    status = report.tests_status
    if status is None:
        return 0, 0
    passing = len(status.FAIL_TO_PASS.success) + len(status.PASS_TO_PASS.success)
    return passing, passing + len(status.FAIL_TO_PASS.failure) + len(status.PASS_TO_PASS.failure)


def pass_ratio(report: InstanceReport) -> float:
    """The share of the hidden (expected) tests that pass; 0.0 when they did not run."""
    passing, total = expected_tests(report)
    return passing / total if total else 0.0


def strict_accuracy(reports: Iterable[InstanceReport]) -> float:
    reports = list(reports)
    return sum(r.resolved for r in reports) / len(reports) if reports else 0.0


def test_case_average(reports: Iterable[InstanceReport]) -> float:
    reports = list(reports)
    return sum(pass_ratio(r) for r in reports) / len(reports) if reports else 0.0


test_case_average.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def rltf_outcome(report: InstanceReport) -> Literal["pass", "fail", "error", "not_applied"]:
    if report.resolved:
        return "pass"
    if not report.patch_exists or (not report.patch_successfully_applied and not report.log_problem):
        return "not_applied"
    if report.error or report.log_problem or report.tests_status is None:
        return "error"
    return "fail"


def rltf_coarse(report: InstanceReport) -> float:
    return {"pass": RLTF_PASS, "fail": RLTF_FAIL, "error": RLTF_ERROR, "not_applied": RLTF_NOT_APPLIED}[
        rltf_outcome(report)
    ]


def rltf_reward(report: InstanceReport) -> float:
    """Coarse for passing, erroring and unapplied patches; adaptive for failing tests."""
    if rltf_outcome(report) == "fail":
        return RLTF_FAIL + (RLTF_PASS - RLTF_FAIL) * pass_ratio(report)
    return rltf_coarse(report)


def reward(report: InstanceReport, kind: RewardKind) -> float:
    if kind == "binary":
        return 1.0 if report.resolved else 0.0
    if kind == "pass_ratio":
        return 1.0 if report.resolved else pass_ratio(report)
    return rltf_reward(report)
