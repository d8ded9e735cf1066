"""Grading: applying patches, running hidden tests, parsing their logs, reports."""

from agentenv.grading.log_parsers import (
    PARSERS,
    TestStatus,
    get_parser,
    parse_pytest_log,
    parse_unittest_log,
    register_parser,
)
from agentenv.grading.report import (
    InstanceReport,
    ResolvedStatus,
    RunReport,
    TestsOutcome,
    TestsStatus,
    graded_report,
    resolution,
    run_report,
    tests_status,
)

__all__ = [
    "PARSERS",
    "InstanceReport",
    "ResolvedStatus",
    "RunReport",
    "TestStatus",
    "TestsOutcome",
    "TestsStatus",
    "get_parser",
    "graded_report",
    "parse_pytest_log",
    "parse_unittest_log",
    "register_parser",
    "resolution",
    "run_report",
    "tests_status",
]
