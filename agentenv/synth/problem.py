"""Bug reports from failing tests: what was expected and what happened, in a user's words.

Written from the test run only, never from the mutation: no file names of the source, no
line numbers, no diff. The reproducer is the failing assertion as the test states it.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from agentenv.diffs import is_test_path

_SECTION = re.compile(r"^_{3,} (?P<name>\S.*?) _{3,}$", re.M)
# The line pytest prints under each frame of a traceback: `path.py:12: KeyError` or `path.py:12: `.
_LOCATION = re.compile(r"^(?P<path>\S+\.py):\d+:(?: .*)?$", re.M)
# A source path in an error message, absolute or relative, with or without a line number.
_PATH_LINE = re.compile(r"(?:/?[\w.-]+/)+[\w.-]+\.py(?::\d+)?|[\w.-]+\.py:\d+")
# An object's address (`<Foo object at 0x7f3a...>`) differs from run to run.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
# Python 3.11's markers under the failing expression.
_CARETS = re.compile(r"^\s*[~^]+\s*$")


def failure_sections(log: str) -> dict[str, str]:
    """pytest's FAILURES blocks, by the test name in their title (e.g. `test_x[1]`, `C.test_y`)."""
    start = log.find("= FAILURES =")
    if start == -1:
        return {}
    end = log.find("short test summary info", start)
    body = log[start : end if end != -1 else len(log)]
    titles = list(_SECTION.finditer(body))
    sections = {}
    for index, title in enumerate(titles):
        stop = titles[index + 1].start() if index + 1 < len(titles) else len(body)
        sections[title.group("name")] = body[title.end() : stop]
    return sections


def _frames(section: str) -> list[tuple[str, str]]:
    """(file, text) of each traceback frame of a failure section, outermost first; a chained
    exception's frames follow those of the exception it was raised from."""
    frames = []
    start = 0
    for location in _LOCATION.finditer(section):
        frames.append((location.group("path"), section[start : location.start()]))
        start = location.end()
    return frames


def _in_test_code(frame_file: str, test_file: str) -> bool:
    """Is the frame in the failing test's file, or in test code it shares with other tests (a
    base class in `tests/__init__.py`, a helper module, a conftest)?"""
    frame, test = Path(frame_file).as_posix(), Path(test_file).as_posix()
    if frame == test or frame.endswith("/" + test) or test.endswith("/" + frame):
        return True
    # By the same rule as the grader's: a package's own testing/ module is library code, where
    # a bug may be, and its lines must not be quoted.
    return is_test_path(frame)


def _evidence(section: str, test_file: str) -> tuple[str | None, list[str]]:
    """The failing statement in the test's own code, and the error lines (`E ...`).

    The statement is taken only from a frame of test code: a frame of the package would quote
    the code around the bug (a chained exception's traceback starts in the package).
    """
    frames = _frames(section)
    statement = None
    for frame_file, text in frames:
        if _in_test_code(frame_file, test_file):
            statement = _marked_statement(text)
            if statement:
                break
    errors: list[str] = []
    for _, text in frames or [("", section)]:
        for line in text.splitlines():
            if line.startswith("E ") and len(errors) < 8:
                errors.append(_ADDRESS.sub("0x…", _PATH_LINE.sub("<path>", line[2:].rstrip())))
    return statement, textwrap.dedent("\n".join(errors)).splitlines()


def _marked_statement(frame_text: str) -> str | None:
    """The statement pytest marks with `>`, with the lines it continues onto."""
    lines = frame_text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(">"):
            statement = [" " + line[1:]]
            for following in lines[index + 1 :]:
                if not following.strip() or following.startswith("E ") or _CARETS.match(following):
                    break
                statement.append(following)
            return textwrap.dedent("\n".join(statement)).strip("\n")
    return None


def _readable(test_id: str) -> str:
    name = test_id.split("::")[-1]
    name = re.sub(r"\[.*\]$", "", name)
    return name.removeprefix("test_").replace("_", " ")


def _section_for(test_id: str, sections: dict[str, str]) -> str | None:
    parts = test_id.split("::")[1:]
    for key in (".".join(parts), parts[-1] if parts else ""):
        if key in sections:
            return sections[key]
    return None


def bug_report(package: str, version: str, failing: list[str], log: str, *, limit: int = 3) -> str:
    """A problem statement for a task whose FAIL_TO_PASS tests are `failing`."""
    sections = failure_sections(log)
    examples = []
    shown_evidence: list[tuple[str | None, list[str]]] = []
    for test_id in failing:
        section = _section_for(test_id, sections)
        if section is None:
            continue
        statement, errors = _evidence(section, test_id.split("::")[0])
        if not errors or (statement, errors) in shown_evidence:  # parametrized cases repeat
            continue
        shown_evidence.append((statement, errors))
        example = f"When checking that {_readable(test_id)} works:\n"
        if statement:
            example += f"```python\n{statement}\n```\n"
        example += "fails with:\n```\n" + "\n".join(errors) + "\n```"
        examples.append(example)
        if len(examples) == limit:
            break
    behaviours = sorted({_readable(t) for t in failing})
    shown = ", ".join(behaviours[:5]) + (" and more" if len(behaviours) > 5 else "")
    report = (
        f"Wrong results from {package} {version}\n\n"
        f"Something in {package} {version} no longer behaves as documented; it shows up in: {shown}.\n"
    )
    if examples:
        report += "\nWhat I see:\n\n" + "\n\n".join(examples) + "\n"
    report += "\nThe results should be the documented ones, as in the expectations above."
    return report
