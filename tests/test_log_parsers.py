"""Log parsers against the logs of real pytest and unittest runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentenv.grading.log_parsers import (
    PARSERS,
    TestStatus,
    get_parser,
    parse_pytest_log,
    parse_unittest_log,
    register_parser,
)

P, F, E, S, X = (
    TestStatus.PASSED, TestStatus.FAILED, TestStatus.ERROR, TestStatus.SKIPPED, TestStatus.XFAIL,
)

PYTEST_FILE = '''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture - broke [x]")

@pytest.fixture
def bad_teardown():
    yield 1
    raise RuntimeError("teardown broke")

def test_pass():
    assert True

def test_fail():
    assert 1 == 2, "x - y ] z"

def test_error(broken):
    pass

def test_teardown_error(bad_teardown):
    pass

@pytest.mark.skip(reason="no - way")
def test_skip():
    pass

def test_skip_inside():
    pytest.skip("inside")

@pytest.mark.xfail(reason="known - bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed")
def test_xpass():
    pass

@pytest.mark.xfail(reason="strict", strict=True)
def test_xpass_strict():
    pass

@pytest.mark.parametrize("v", ["a - b", "c [d] e", "x]y", "  sp  ", "ok", "[1]"])
def test_param(v):
    assert v == "ok", f"got {v} - bad ] - worse"

class TestK:
    def test_m(self):
        print("PASSED tests/fake.py::test_fake")
        assert True

    def test_fails_loudly(self):
        print("FAILED not::a_test - nope")
        assert False
'''

# What the -rA summary says; skipped tests appear there only as "SKIPPED [1] file:line".
SUMMARY_STATUSES = {
    "test_s.py::test_pass": P,
    "test_s.py::test_fail": F,
    "test_s.py::test_error": E,
    "test_s.py::test_teardown_error": E,  # PASSED, then ERROR in teardown: the error wins
    "test_s.py::test_xfail": X,
    "test_s.py::test_xpass": F,
    "test_s.py::test_xpass_strict": F,
    "test_s.py::test_param[a - b]": F,
    "test_s.py::test_param[c [d] e]": F,
    "test_s.py::test_param[x]y]": F,
    "test_s.py::test_param[  sp  ]": F,
    "test_s.py::test_param[ok]": P,
    "test_s.py::test_param[[1]]": F,
    "test_s.py::TestK::test_m": P,
    "test_s.py::TestK::test_fails_loudly": F,
    "test_broken.py": E,
}
VERBOSE_STATUSES = {
    **SUMMARY_STATUSES,
    "test_s.py::test_skip": S,
    "test_s.py::test_skip_inside": S,
}


def run(args: list[str], cwd: Path) -> str:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "PY_"))
    }
    env |= {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "80", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return result.stdout + result.stderr


@pytest.fixture
def pytest_project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # keeps this repo's settings out
    (tmp_path / "test_s.py").write_text(PYTEST_FILE)
    (tmp_path / "test_broken.py").write_text("import no_such_module_xyz\n\ndef test_x(): pass\n")
    return tmp_path


def run_pytest(project: Path, *flags: str) -> str:
    return run(["-m", "pytest", "-rA", "-p", "no:cacheprovider", *flags], project)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), SUMMARY_STATUSES),
        # With a short summary, only the summary is read (SWE-bench's result), -v or not.
        (("-v",), SUMMARY_STATUSES),
        (("-vv", "--color=yes"), SUMMARY_STATUSES),
        (("-q",), SUMMARY_STATUSES),
    ],
)
def test_pytest_statuses_from_a_real_run(
    pytest_project: Path, flags: tuple[str, ...], expected: dict[str, TestStatus]
) -> None:
    log = run_pytest(pytest_project, "--continue-on-collection-errors", *flags)
    assert "short test summary info" in log, log
    assert parse_pytest_log(log) == expected


def test_pytest_collection_error_that_stops_the_run(pytest_project: Path) -> None:
    log = run_pytest(pytest_project)
    assert "Interrupted" in log
    assert parse_pytest_log(log) == {"test_broken.py": E}


def test_pytest_verbose_lines_alone_when_the_summary_is_missing(pytest_project: Path) -> None:
    log = run_pytest(pytest_project, "--continue-on-collection-errors", "-v")
    cut = log[: log.index("= ERRORS =")]  # as if the run was killed before its report
    expected = {k: v for k, v in VERBOSE_STATUSES.items() if k != "test_broken.py"}
    assert parse_pytest_log(cut) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PASSED t.py::test_a", {"t.py::test_a": P}),
        ("FAILED t.py::test_x[a - b] - AssertionError: x - y", {"t.py::test_x[a - b]": F}),
        ("FAILED t.py::test_x[a] - assert [1] == [2]", {"t.py::test_x[a]": F}),
        ("ERROR t.py::test_e - RuntimeError: x", {"t.py::test_e": E}),
        ("ERROR t.py", {"t.py": E}),
        ("XFAIL t.py::test_x - reason", {"t.py::test_x": X}),
        ("XFAIL t.py::test_x", {"t.py::test_x": X}),
        ("XPASS t.py::test_x reason words", {"t.py::test_x": F}),  # pytest 7's format
        ("XPASS t.py::test_x[p q] reason", {"t.py::test_x[p q]": F}),
        ("SKIPPED [1] t.py:12: reason", {}),
        ("SKIPPED [3] t.py:12: reason - with dash", {}),
        ("[gw0] [ 50%] PASSED t.py::test_a", {"t.py::test_a": P}),
        ("t.py::test_a PASSED                                  [ 50%]", {"t.py::test_a": P}),
        ("t.py::test_p[a b] FAILED", {"t.py::test_p[a b]": F}),
        ("t.py::test_s SKIPPED (some reason) [ 75%]", {"t.py::test_s": S}),
        ("t.py::test_x XPASS (fixed)", {"t.py::test_x": F}),
        ("ERROR: file or directory not found: nope.py", {}),
        ("PASSED", {}),
        ("E       assert PASSED == FAILED", {}),
        ("", {}),
    ],
)
def test_pytest_single_lines(line: str, expected: dict[str, TestStatus]) -> None:
    assert parse_pytest_log(line + "\n") == expected


def test_pytest_output_outside_the_summary_cannot_add_tests() -> None:
    log = textwrap.dedent(
        """\
        ============================= test session starts ==============================
        t.py::test_a FAILED                                                      [100%]
        =================================== FAILURES ===================================
        ----------------------------- Captured stdout call -----------------------------
        PASSED t.py::test_b
        t.py::test_c PASSED
        =========================== short test summary info ============================
        FAILED t.py::test_a - assert False
        ============================== 1 failed in 0.01s ===============================
        """
    )
    assert parse_pytest_log(log) == {"t.py::test_a": F}


def test_pytest_windows_line_ends_and_ansi_are_ignored() -> None:
    log = "\x1b[32mPASSED\x1b[0m t.py::\x1b[1mtest_a\x1b[0m\r\nFAILED t.py::test_b - x\r\n"
    assert parse_pytest_log(log) == {"t.py::test_a": P, "t.py::test_b": F}


UNITTEST_FILE = '''
import unittest

class TestA(unittest.TestCase):
    def test_ok(self):
        pass
    def test_fail(self):
        self.assertEqual(1, 2)
    def test_error(self):
        raise RuntimeError("boom")
    @unittest.skip("not - now")
    def test_skip(self):
        pass
    @unittest.expectedFailure
    def test_xfail(self):
        self.assertTrue(False)
    @unittest.expectedFailure
    def test_xpass(self):
        pass
    def test_doc(self):
        """A docstring line - shown by -v ... like this.

        more."""
    def test_print(self):
        print("output of the test")
    def test_sub(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)

class TestSetupFails(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("class setup")
    def test_never(self):
        pass

class TestLast(unittest.TestCase):
    def test_z(self):
        pass
'''

UNITTEST_STATUSES = {
    "pkg.test_mod.TestA.test_ok": P,
    "pkg.test_mod.TestA.test_fail": F,
    "pkg.test_mod.TestA.test_error": E,
    "pkg.test_mod.TestA.test_skip": S,
    "pkg.test_mod.TestA.test_xfail": X,
    "pkg.test_mod.TestA.test_xpass": F,
    "pkg.test_mod.TestA.test_doc": P,
    "pkg.test_mod.TestA.test_print": P,
    "pkg.test_mod.TestA.test_sub": F,
    "pkg.test_mod.TestSetupFails.setUpClass": E,
    "pkg.test_mod.TestLast.test_z": P,
    "unittest.loader._FailedTest.test_broken": E,
}


def test_unittest_statuses_from_a_real_run(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "test_mod.py").write_text(UNITTEST_FILE)
    (tmp_path / "pkg" / "test_broken.py").write_text("import no_such_module_xyz\n")
    log = run(["-m", "unittest", "-v", "pkg.test_mod", "pkg.test_broken"], tmp_path)
    assert "Ran " in log, log
    assert parse_unittest_log(log) == UNITTEST_STATUSES


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("test_a (m.C) ... ok\n", {"m.C.test_a": P}),  # Python < 3.11 names the class only
        ("test_a (m.C.test_a) ... FAIL\n", {"m.C.test_a": F}),
        ("test_a (m.C.test_a) ... skipped 'why'\n", {"m.C.test_a": S}),
        ("test_a (m.C.test_a) ... printed\nmore\nok\n", {"m.C.test_a": P}),
        ("test_a (m.C.test_a) ... ok\nFAIL: test_a (m.C.test_a)\n", {"m.C.test_a": F}),
        ("nothing to see here\nok\n", {}),
    ],
)
def test_unittest_single_cases(log: str, expected: dict[str, TestStatus]) -> None:
    assert parse_unittest_log(log) == expected


def test_parsers_are_found_by_name() -> None:
    assert get_parser("pytest") is parse_pytest_log
    assert get_parser("unittest") is parse_unittest_log
    with pytest.raises(KeyError, match=r"known parsers: pytest, pytest_options, unittest, and swebench:<owner/name>"):
        get_parser("nose")
    with pytest.raises(KeyError, match="the swebench package has no log parser for 'someone/elsewhere'"):
        get_parser("swebench:someone/elsewhere")


def test_register_parser_adds_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentenv.grading.log_parsers.PARSERS", dict(PARSERS))

    def every_line_passes(log: str) -> dict[str, TestStatus]:
        return {line: TestStatus.PASSED for line in log.splitlines()}

    register_parser("lines", every_line_passes)
    assert get_parser("lines")("a\nb") == {"a": P, "b": P}


def test_statuses_are_swe_bench_strings() -> None:
    assert [s.value for s in TestStatus] == ["PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"]
    assert TestStatus.PASSED == "PASSED"
