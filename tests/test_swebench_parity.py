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


PATH_PARAMS = '''
import os
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("path", [os.path.join(HERE, "data", "a.dcm"), "//net/share", "rel/b.dcm"])
def test_reads(path):
    assert not path.endswith("b.dcm")
'''


def test_requests_pylint_and_pydicom_ids_are_named_as_swebench_names_them(tmp_path) -> None:
    # SWE-bench's parser for these repositories keeps only the file name of an absolute path
    # parameter: its FAIL_TO_PASS/PASS_TO_PASS ids do not hold the machine's folders.
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER

    from agentenv.grading.log_parsers import get_parser

    (tmp_path / "test_paths.py").write_text(PATH_PARAMS)
    log = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "test_paths.py"], capture_output=True, text=True, cwd=tmp_path
    ).stdout
    ours = {test: status.value for test, status in get_parser("pytest_options")(log).items()}
    for repo in ("psf/requests", "pylint-dev/pylint", "pydicom/pydicom"):
        theirs = {test: str(getattr(s, "value", s)) for test, s in MAP_REPO_TO_PARSER[repo](log, None).items()}
        assert ours == theirs, repo
    assert ours == {
        "test_paths.py::test_reads[/a.dcm]": "PASSED",
        "test_paths.py::test_reads[//net/share]": "PASSED",
        "test_paths.py::test_reads[rel/b.dcm]": "FAILED",
    }


DJANGO_STYLE = '''
import unittest


class CommandTests(unittest.TestCase):
    def test_plain(self):
        pass

    def test_documented(self):
        """A first docstring line names the test in verbose output."""
        self.fail("no")

    @unittest.skip("not here")
    def test_skipped(self):
        pass
'''


def test_django_ids_from_this_python_match_swebenchs_ids(tmp_path) -> None:
    # SWE-bench collected Django's ids under Python 3.9 ("test_x (mod.Class)"); Python 3.11
    # prints "test_x (mod.Class.test_x)". Django's runner prints what unittest prints.
    from agentenv.grading.log_parsers import get_parser

    (tmp_path / "user_commands.py").write_text(DJANGO_STYLE)
    log = subprocess.run([sys.executable, "-m", "unittest", "-v", "user_commands"], capture_output=True, text=True, cwd=tmp_path).stderr
    assert "test_plain (user_commands.CommandTests.test_plain) ... ok" in log  # this Python's form
    statuses = {test: status.value for test, status in get_parser("swebench:django/django")(log).items()}
    assert statuses == {
        "test_plain (user_commands.CommandTests)": "PASSED",
        "A first docstring line names the test in verbose output.": "FAILED",
        "test_skipped (user_commands.CommandTests)": "SKIPPED",
        # SWE-bench's parser also takes the name after "FAIL:" in the report block.
        "test_documented": "FAILED",
    }
