"""Which tests the hidden test run names: SWE-bench's test directives.

SWE-bench does not run a repository's whole suite when it grades: it runs the test files that
the instance's test patch touches. So a test file that cannot even be imported (an optional
dependency missing, a platform-specific module) cannot sink the grade of an unrelated fix.
agentenv does the same by default, for pytest tasks: the files named by the hidden test patch,
by `hidden_tests`, and by the FAIL_TO_PASS/PASS_TO_PASS ids. A task may name its own
directives (`test_directives`), or none (`[]`: its `test_cmd` as written).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable

from agentenv.diffs import split_patch
from agentenv.tasks.model import Task

# Log parsers that read pytest's own output: their tasks run pytest, which takes file paths.
PYTEST_LOG_PARSERS = frozenset({"pytest", "pytest_options"})
# SWE-bench's NON_TEST_EXTS: data files a test patch may touch, never run as tests.
NON_TEST_SUFFIXES = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")


def _pytest_file(path: str) -> bool:
    # pytest stops with "not found" on a file no collector takes, so only Python modules are
    # named; conftest.py files are loaded by pytest on their own.
    return path.endswith(".py") and posixpath.basename(path) != "conftest.py" and not path.endswith(NON_TEST_SUFFIXES)


def default_directives(task: Task) -> list[str]:
    """The test files of a pytest task, SWE-bench's way (see the module's docstring)."""
    named: list[str] = []
    for section in split_patch(task.test_patch):
        if section.new_path is not None:  # a deleted file is not run
            named.append(section.new_path)
    named += task.hidden_tests
    named += [test.split("::", 1)[0] for test in task.FAIL_TO_PASS + task.PASS_TO_PASS if "::" in test]
    return [path for path in dict.fromkeys(named) if _pytest_file(path)]


def test_directives(task: Task) -> list[str]:
    """What the hidden test run names after the task's `test_cmd`."""
    if task.test_directives is not None:
        return list(task.test_directives)
    if task.log_parser not in PYTEST_LOG_PARSERS:
        return []  # other runners name tests their own way; the task must say how
    return default_directives(task)


# Its name starts with "test": pytest would collect it from any test module that imports it.
test_directives.__test__ = False  # type: ignore[attr-defined]


def hidden_test_command(task: Task, extra: Iterable[str] = (), *, directives: list[str] | None = None) -> str:
    """The task's test command with its directives (or `directives`, e.g. with a canary placed
    among them) and `extra` ones after them."""
    named = (test_directives(task) if directives is None else list(directives)) + list(extra)
    if not named:
        return task.test_cmd
    return task.test_cmd + " " + " ".join(shlex.quote(directive) for directive in named)
