"""Our pytest log parser against SWE-bench's own, on real pytest logs made here.

Where the two differ, it is by a documented choice: SWE-bench reads "XPASS" lines as nothing
(the test is missing, hence failed) and ours as FAILED, and SWE-bench takes "[1]" from a
"SKIPPED [1] file:line" line as if it were a test id. Every test either parser names must get
the same grade: passing for both, or failing for both.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from swebench.harness.log_parsers.python import parse_log_pytest

from agentenv.grading.log_parsers import TestStatus, parse_pytest_log

PASSING = {"PASSED", "XFAIL"}

CORPUS = {
    "plain": '''
import pytest

def test_ok():
    assert True

def test_fails():
    assert 1 == 2, "one - two"

@pytest.fixture
def broken():
    raise RuntimeError("fixture - broke")

def test_error(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    assert True
''',
    "params": '''
import pytest

@pytest.mark.parametrize("value", ["a - b", "x[1]", "sp ace", "1.0.0-rc.1", "[[nested]]", "end]"])
def test_param(value):
    assert "a" not in value

@pytest.mark.parametrize("left,right", [(1, 1), (2, 3)])
def test_pairs(left, right):
    assert left == right, f"{left} - {right}"

class TestGroup:
    def test_method(self):
        pass

    @pytest.mark.parametrize("n", range(3))
    def test_each(self, n):
        assert n != 1
''',
    "teardown": '''
import pytest

@pytest.fixture
def leaky():
    yield
    raise ValueError("teardown - failed")

def test_passes_then_teardown_fails(leaky):
    pass

def test_unicode_msg():
    assert "café" == "cafe", "accent: é - e"
''',
}


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("corpus")
    produced = {}
    for name, source in CORPUS.items():
        folder = root / name
        folder.mkdir()
        (folder / f"test_{name}.py").write_text(source)
        for flags in (["-rA"], ["-rA", "-v"], ["-rA", "-q"]):
            done = subprocess.run(
                [sys.executable, "-m", "pytest", *flags, "-p", "no:cacheprovider", str(folder)],
                capture_output=True, text=True, cwd=folder,
            )
            produced[f"{name} {' '.join(flags)}"] = done.stdout
    return produced


def _their_status(test: str, theirs: dict[str, str]) -> str | None:
    """SWE-bench's status for one of our ids: exact, or under the id its parser cut short
    at a space inside the brackets (its grader matches such ids by prefix)."""
    if test in theirs:
        return theirs[test]
    cut = [t for t in theirs if test.startswith(t) and t.count("[") > t.count("]")]
    return theirs[cut[0]] if len(cut) == 1 else None


def test_every_log_grades_alike(logs: dict[str, str]) -> None:
    assert len(logs) == 9
    differences = 0
    for name, log in logs.items():
        ours = {test: status.value for test, status in parse_pytest_log(log).items()}
        theirs = {test: str(status).split(".")[-1] for test, status in parse_log_pytest(log, None).items()}
        # SWE-bench's pseudo-ids from "SKIPPED [1] file:line" lines name no test.
        theirs = {test: status for test, status in theirs.items() if not test.startswith("[")}
        assert ours, name
        for test, status in ours.items():
            their = _their_status(test, theirs)
            if their is None:
                # Only an unexpected pass: SWE-bench leaves it out (missing = failed), we say FAILED.
                assert status == "FAILED" and "xpass" in test, (name, test, status)
                differences += 1
                continue
            assert (status in PASSING) == (their in PASSING), (name, test, status, their)
            assert status == their or test not in theirs, (name, test, status, their)
        for test in theirs:
            assert test in ours or any(o.startswith(test) for o in ours), f"{name}: SWE-bench found {test}, we did not"
    assert differences == 3  # the one XPASS, in each of the three "plain" logs


def test_parametrized_ids_survive(logs: dict[str, str]) -> None:
    statuses = parse_pytest_log(logs["params -rA"])
    prefix = next(iter(statuses)).split("::")[0]
    assert statuses[f"{prefix}::test_param[a - b]"] == TestStatus.FAILED
    assert statuses[f"{prefix}::test_param[x[1]]"] == TestStatus.PASSED
    assert statuses[f"{prefix}::test_param[sp ace]"] == TestStatus.FAILED
    assert statuses[f"{prefix}::test_param[end]]"] == TestStatus.PASSED
    assert statuses[f"{prefix}::TestGroup::test_each[1]"] == TestStatus.FAILED
