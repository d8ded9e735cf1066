"""A pytest plugin that the grader loads into the hidden test run (never into the agent's).

It writes each test's outcome, and a last record when the session finishes, to the file named
by AGENTENV_RESULTS. The grader trusts a log only when it agrees with this record and the
record is complete: a patch that prints forged "PASSED" lines, or ends the process before the
tests ran, is caught by the disagreement.

This file is copied into the grading container and must run on any Python 3 a task image has,
so it uses nothing newer than Python 3.6 and only the standard library besides pytest.
"""

import json
import os

_PATH = os.environ.get("AGENTENV_RESULTS")
_STATUS = {}


def _write(record):
    if not _PATH:
        return
    with open(_PATH, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _status(report):
    """SWE-bench's status words for one phase report."""
    if hasattr(report, "wasxfail"):
        return "XFAIL" if report.skipped else "FAILED"  # an unexpected pass is a failure
    if report.passed:
        return "PASSED"
    if report.skipped:
        return "SKIPPED"
    return "FAILED" if report.when == "call" else "ERROR"


def pytest_runtest_logreport(report):
    status = _status(report)
    previous = _STATUS.get(report.nodeid)
    if report.when == "call" or previous is None:
        _STATUS[report.nodeid] = status
    elif status == "ERROR":  # a failing teardown spoils a passed test
        _STATUS[report.nodeid] = "ERROR"


def pytest_sessionfinish(session, exitstatus):
    for nodeid, status in sorted(_STATUS.items()):
        _write({"test": nodeid, "status": status})
    _write({"finished": True, "exitstatus": int(exitstatus)})
