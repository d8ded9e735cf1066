"""Bug reports from failing tests: what was expected and what happened, in a user's words.

Written from the test run only, never from the mutation: no file names of the source, no
line numbers, no diff. The reproducer is the failing assertion as the test states it.
"""

from __future__ import annotations

import re
import textwrap

_SECTION = re.compile(r"^_{3,} (?P<name>\S.*?) _{3,}$", re.M)
_LOCATION = re.compile(r"^\S+\.py:\d+: .*$", re.M)
_PATH_LINE = re.compile(r"(/[\w.-]+)+\.py(:\d+)?")


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


def _evidence(section: str) -> tuple[str | None, list[str]]:
    """The failing statement (the `>` line) and the error lines (`E ...`)."""
    statement = None
    errors: list[str] = []
    for line in section.splitlines():
        if line.startswith(">") and statement is None:
            statement = line[1:].strip()
        elif line.startswith("E ") and len(errors) < 8:
            errors.append(_PATH_LINE.sub("<path>", line[2:].rstrip()))
    return statement, textwrap.dedent("\n".join(errors)).splitlines()


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
    for test_id in failing:
        section = _section_for(test_id, sections)
        if section is None:
            continue
        statement, errors = _evidence(_LOCATION.sub("", section))
        if not errors:
            continue
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
