"""Test statuses from test logs, with the semantics of SWE-bench's harness.

A parser maps a log to ``{test id: TestStatus}``. The statuses and their grading meaning are
SWE-bench's (``swebench/harness/constants``, ``grading.py``): PASSED and XFAIL count as
passing; FAILED and ERROR as failing; SKIPPED fails a FAIL_TO_PASS test but keeps a
PASS_TO_PASS one; a test absent from the log has failed.

Unexpected passes (pytest's XPASS, unittest's "unexpected success") map to FAILED. SWE-bench
has no XPASS status: its pytest parsers skip XPASS lines, so such a test is absent from the
map and grades as failed -- FAILED gives the same grade, says so in the map, and agrees with
``xfail_strict`` and with unittest, which both count an unexpected success as a failure.

When a test id appears more than once (a test that passes and then errors in teardown shows
as PASSED and ERROR), a failing status wins over a passing or skipped one; otherwise the last
one seen wins, as in SWE-bench.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum


class TestStatus(StrEnum):
    __test__ = False  # not a pytest test class, despite its name

    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    XFAIL = "XFAIL"


LogParser = Callable[[str], dict[str, TestStatus]]

_FAILING = {TestStatus.FAILED, TestStatus.ERROR}
# CSI sequences (colours, cursor moves) and OSC sequences (titles, links).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_PYTEST_WORDS = {
    "PASSED": TestStatus.PASSED,
    "FAILED": TestStatus.FAILED,
    "ERROR": TestStatus.ERROR,
    "SKIPPED": TestStatus.SKIPPED,
    "XFAIL": TestStatus.XFAIL,
    "XPASS": TestStatus.FAILED,
}
_WORD = "|".join(_PYTEST_WORDS)
# "PASSED id", "FAILED id - message"; xdist prefixes "[gw0] [ 50%] ".
_SUMMARY_LINE = re.compile(rf"^(?:\[gw\d+\] \[\s*\d+%\] )?({_WORD}) (.+)$")
# "id PASSED [ 50%]", "id SKIPPED (reason) [ 75%]"; the id holds "::" (files have no status
# there) and the last status word on the line is the one (greedy id).
_VERBOSE_LINE = re.compile(rf"^(\S.*::.+) ({_WORD})(?: \(.*\))?(?:\s+\[\s*\d+%\])?\s*$")
_SECTION = re.compile(r"^={3,} (.*?) ={3,}$")
_SUMMARY_SECTION = "short test summary info"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _record(statuses: dict[str, TestStatus], test: str, status: TestStatus) -> None:
    previous = statuses.get(test)
    if previous in _FAILING and status not in _FAILING:
        return
    statuses.pop(test, None)  # re-insert so the map's order is the order of last report
    statuses[test] = status


# ---------------------------------------------------------------------------- pytest


def parse_pytest_log(log: str) -> dict[str, TestStatus]:
    """Statuses from a pytest run with ``-rA`` (the short summary), ``-v`` lines, or both.

    Summary lines are read only inside "short test summary info" sections when the log has
    one, so that a test printing "PASSED x" cannot add a test, and then nothing else is
    read: the result is SWE-bench's. Only a log without a summary (no ``-rA``, or cut off
    before it) is read from its ``-v`` progress lines, outside the report sections.
    ``SKIPPED [N] file:line: reason`` summary lines name a location, not a test, and are
    not recorded (as in SWE-bench); ``-v`` lines do give skipped tests their ids.
    """
    lines = strip_ansi(log).replace("\r\n", "\n").split("\n")
    has_summary = any(_section_title(line) == _SUMMARY_SECTION for line in lines)
    statuses: dict[str, TestStatus] = {}
    section: str | None = None
    for line in lines:
        line = line.rstrip("\r")
        title = _section_title(line)
        if title is not None:
            section = title
            continue
        in_summary = section == _SUMMARY_SECTION
        if in_summary or not has_summary:
            parsed = _parse_summary_line(line)
            if parsed is not None:
                _record(statuses, *parsed)
                continue
        if not has_summary and (section is None or section.startswith("test session starts")):
            match = _VERBOSE_LINE.match(line)
            if match:
                _record(statuses, match.group(1), _PYTEST_WORDS[match.group(2)])
    return statuses


def _section_title(line: str) -> str | None:
    match = _SECTION.match(line)
    return match.group(1) if match else None


def _parse_summary_line(line: str) -> tuple[str, TestStatus] | None:
    match = _SUMMARY_LINE.match(line)
    if match is None:
        return None
    word, rest = match.groups()
    if rest.startswith("["):
        return None  # "SKIPPED [1] file:line: reason"
    test = _test_id_at_start(rest)
    return (test, _PYTEST_WORDS[word]) if test else None


def _test_id_at_start(rest: str) -> str:
    """The node id at the start of "id", "id - message" or (pytest 7's XPASS) "id reason".

    Node ids have no spaces outside their parameter brackets, but parameters may hold
    spaces, " - " and brackets, and messages may too. The id ends at a "]" followed by the
    end of the line or a space; a "]" that closes the first "[" is preferred, then one
    followed by " - " (the message separator) or the end.
    """
    first_token = rest.split(None, 1)[0] if rest.strip() else ""
    bracket = first_token.find("[")
    if bracket < 0:
        return first_token
    depth = 0
    balanced: list[int] = []
    separated: list[int] = []
    spaced: list[int] = []
    for i in range(bracket, len(rest)):
        depth += {"[": 1, "]": -1}.get(rest[i], 0)
        if rest[i] != "]":
            continue
        after = rest[i + 1 :]
        if after == "" or after.startswith(" - "):
            (balanced if depth == 0 else separated).append(i)
        elif after[0].isspace():
            spaced.append(i)
    for candidates in (balanced, separated, spaced):
        if candidates:
            return rest[: candidates[0] + 1]
    return first_token


# ---------------------------------------------------------------------------- unittest

# "test_x (pkg.mod.Class.test_x) ... ok"; the part after " ... " may be missing (a docstring
# line follows) or be the test's own output (the status comes on a later line).
_UNITTEST_TEST = re.compile(r"^(\w+) \(([\w.]+)\)(?: \.\.\. ?(.*))?$")
# "  test_x (pkg.mod.Class.test_x) (i=2) ... FAIL" -- a failing subtest fails its test.
_UNITTEST_SUBTEST = re.compile(r"^\s+(\w+) \(([\w.]+)\) \(.*\) \.\.\. (FAIL|ERROR)$")
# The report blocks at the end: "FAIL: test_x (pkg.mod.Class.test_x)".
_UNITTEST_BLOCK = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (\w+) \(([\w.]+)\)")
_UNITTEST_WORDS = {
    "ok": TestStatus.PASSED,
    "FAIL": TestStatus.FAILED,
    "ERROR": TestStatus.ERROR,
    "expected failure": TestStatus.XFAIL,
    "unexpected success": TestStatus.FAILED,
    "UNEXPECTED SUCCESS": TestStatus.FAILED,
}


def parse_unittest_log(log: str) -> dict[str, TestStatus]:
    """Statuses from ``python -m unittest -v`` (and runners that print the same way).

    Ids are ``pkg.mod.Class.test_x``, from Python 3.11's ``test_x (pkg.mod.Class.test_x)``
    and from older Pythons' ``test_x (pkg.mod.Class)`` alike. A class or module that fails
    to set up shows as e.g. ``pkg.mod.Class.setUpClass``: ERROR, and its tests are absent.
    """
    statuses: dict[str, TestStatus] = {}
    pending: str | None = None  # a test whose status has not been printed yet
    for line in strip_ansi(log).replace("\r\n", "\n").split("\n"):
        line = line.rstrip("\r")
        if match := _UNITTEST_SUBTEST.match(line):
            _record(statuses, _unittest_id(match[1], match[2]), _UNITTEST_WORDS[match[3]])
            pending = None  # a test with failing subtests prints no status of its own
        elif match := _UNITTEST_BLOCK.match(line):
            _record(statuses, _unittest_id(match[2], match[3]), _UNITTEST_WORDS[match[1]])
            pending = None
        elif match := _UNITTEST_TEST.match(line):
            pending = _unittest_id(match[1], match[2])
            status = _unittest_status(match[3]) if match[3] is not None else None
            if status is not None:
                _record(statuses, pending, status)
                pending = None
        elif pending is not None:
            # A docstring line ending in " ... ok", or the status alone after output.
            tail = line.rsplit(" ... ", 1)[-1] if " ... " in line else line
            status = _unittest_status(tail)
            if status is not None:
                _record(statuses, pending, status)
                pending = None
    return statuses


def _unittest_id(name: str, qualifier: str) -> str:
    return qualifier if qualifier.endswith("." + name) else f"{qualifier}.{name}"


def _unittest_status(text: str) -> TestStatus | None:
    text = text.strip()
    if text.startswith("skipped"):
        return TestStatus.SKIPPED
    return _UNITTEST_WORDS.get(text)


# ---------------------------------------------------------------------------- SWE-bench's ids

# "test_x[/abs/path/to/data.dcm-data0]": SWE-bench's parser for requests, pylint and pydicom
# (parse_log_pytest_options) keeps only the last part of a parameter that is an absolute path,
# so that ids do not depend on where the repository was; its FAIL_TO_PASS/PASS_TO_PASS use them.
_OPTION = re.compile(r"(.*?)\[(.*)\]")


def swebench_option_id(test: str) -> str:
    """A pytest id as SWE-bench's parse_log_pytest_options names it."""
    match = _OPTION.search(test)
    if match is None:
        return test
    main, option = match.groups()
    if option.startswith("/") and not option.startswith("//") and "*" not in option:
        option = "/" + option.split("/")[-1]
    return f"{main}[{option}]"


def parse_pytest_options_log(log: str) -> dict[str, TestStatus]:
    """`parse_pytest_log`, with ids named as SWE-bench's parse_log_pytest_options names them."""
    statuses: dict[str, TestStatus] = {}
    for test, status in parse_pytest_log(log).items():
        _record(statuses, swebench_option_id(test), status)
    return statuses


# Parsers of pytest's own output, and how each names the node ids pytest records: grading
# loads pytest's results plugin (and a canary) for these, and compares ids in their form.
PYTEST_ID_FORMS: dict[str, Callable[[str], str]] = {"pytest": lambda test: test, "pytest_options": swebench_option_id}


# "swebench:<owner/name>": the log parser that the swebench package registers for that
# repository (Django's, sympy's, ...), for logs that pytest's parser cannot read.
SWEBENCH_PREFIX = "swebench:"


# Python 3.11's unittest names a test "test_x (pkg.mod.Class.test_x)"; older ones, under which
# SWE-bench collected its Django ids, "test_x (pkg.mod.Class)".
_UNITTEST_311_ID = re.compile(r"^(\w+) \(([\w.]+)\.\1\)$")


def swebench_unittest_id(test: str) -> str:
    """A unittest id in the form SWE-bench's Django ids have, whatever Python printed it."""
    return _UNITTEST_311_ID.sub(r"\1 (\2)", test)


def swebench_parser(repo: str) -> LogParser:
    """swebench's own parser for `repo`, with its statuses as agentenv's (KeyError if none)."""
    try:
        from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    except ImportError:
        raise KeyError(
            f"log parser {SWEBENCH_PREFIX}{repo} needs the swebench package with its parsers: "
            "pip install 'agentenv[swebench]'"
        ) from None
    if repo not in MAP_REPO_TO_PARSER:
        raise KeyError(f"the swebench package has no log parser for {repo!r}")
    parse = MAP_REPO_TO_PARSER[repo]

    def parse_with_swebench(log: str) -> dict[str, TestStatus]:
        statuses: dict[str, TestStatus] = {}
        # swebench's parsers take the instance's TestSpec; its Python ones do not read it.
        for test, status in parse(strip_ansi(log), None).items():
            _record(statuses, swebench_unittest_id(test), TestStatus(getattr(status, "value", status)))
        return statuses

    return parse_with_swebench


# ---------------------------------------------------------------------------- registry

PARSERS: dict[str, LogParser] = {
    "pytest": parse_pytest_log,
    "unittest": parse_unittest_log,
    "pytest_options": parse_pytest_options_log,
}


def register_parser(name: str, parser: LogParser) -> None:
    """Make a parser available by name (a task or config names it)."""
    PARSERS[name] = parser


def get_parser(name: str) -> LogParser:
    if name not in PARSERS and name.startswith(SWEBENCH_PREFIX):
        return swebench_parser(name[len(SWEBENCH_PREFIX) :])
    try:
        return PARSERS[name]
    except KeyError:
        raise KeyError(
            f"unknown log parser {name!r}; known parsers: {', '.join(sorted(PARSERS))}, "
            f"and {SWEBENCH_PREFIX}<owner/name> (the swebench package's parser for a repository)"
        ) from None
