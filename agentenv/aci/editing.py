"""Line-range edits with a lint guard: an edit that introduces errors is not applied.

Only errors the edit introduces count; errors already in the file never block an edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentenv.aci.lint import EditSpan, LintIssue, format_issues, introduced_issues
from agentenv.aci.viewer import Viewer, split_lines


class EditRejected(Exception):
    """The edit was not applied; the message is written for the agent."""

    def __init__(self, message: str, issues: list[LintIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


@dataclass
class AppliedEdit:
    text: str
    lines: list[str]
    start: int
    new_line_count: int
    warnings: list[LintIssue] = field(default_factory=list)

    @property
    def warning_text(self) -> str:
        return format_issues(self.warnings)


def _join(lines: list[str], ends_with_newline: bool) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if ends_with_newline else "")


def apply_line_edit(
    path: str,
    before: str,
    start: int,
    end: int,
    replacement: str,
    *,
    lint_mode: Literal["block", "warn", "off"],
    viewer: Viewer,
) -> AppliedEdit:
    """Replace lines start..end (1-based, inclusive) of `before` with `replacement`."""
    lines = split_lines(before)
    total = len(lines)
    if start < 1 or start > total + 1:
        raise EditRejected(
            f"start_line {start} is out of range: the file has {total} lines "
            f"(use {total + 1} to append after the last line)."
        )
    # Forgiving about an end past the last line: agents often say `edit 1:1` on an empty file.
    end = min(end, total)
    if end < start - 1:
        raise EditRejected(f"end_line {end} is before start_line {start}; write <start_line>:<end_line>.")
    new_lines = split_lines(replacement)
    after_lines = lines[: start - 1] + new_lines + lines[end:]
    # A file that lacked a final newline keeps lacking it, unless the edit reached its end.
    ends_with_newline = before.endswith("\n") or not before or end == total
    after = _join(after_lines, ends_with_newline)
    span = EditSpan(start=start, end=end, new_line_count=len(new_lines))
    issues = [] if lint_mode == "off" else introduced_issues(path, before, after, span)
    if issues and lint_mode == "block":
        raise EditRejected(_rejection(path, viewer, lines, after_lines, start, end, len(new_lines), issues), issues)
    return AppliedEdit(
        text=after, lines=after_lines, start=start, new_line_count=len(new_lines), warnings=issues
    )


def _rejection(
    path: str,
    viewer: Viewer,
    before_lines: list[str],
    after_lines: list[str],
    start: int,
    end: int,
    new_count: int,
    issues: list[LintIssue],
) -> str:
    proposed = Viewer(window=viewer.window, overlap=viewer.overlap, path=path)
    proposed.show_range(start, start + max(new_count, 1) - 1, len(after_lines))
    original = Viewer(window=viewer.window, overlap=viewer.overlap, path=path)
    original.show_range(start, max(start, end), len(before_lines))
    rule = "-" * 40
    return (
        "Edit NOT applied: it would introduce these errors:\n"
        f"{format_issues(issues)}\n\n"
        f"The file as it would have been after the edit:\n{rule}\n"
        f"{proposed.render(after_lines)}\n{rule}\n\n"
        f"The file as it is (unchanged):\n{rule}\n"
        f"{original.render(before_lines)}\n{rule}\n"
        "Fix the edit (check the line range and the indentation) and try again."
    )
