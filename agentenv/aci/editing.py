"""Edits as pure functions of a file's text, each checked by the lint guard.

An edit that introduces errors is not applied (mode "block"), applied with a warning ("warn"),
or not checked ("off"). Only errors the edit introduces count: errors already in the file
never block an edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentenv.aci.lint import EditSpan, LintIssue, format_issues, introduced_issues
from agentenv.aci.viewer import Viewer, split_lines

LintMode = Literal["block", "warn", "off"]


class EditRejected(Exception):
    """The edit was not applied; the message is written for the agent."""

    def __init__(self, message: str, issues: list[LintIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


@dataclass
class AppliedEdit:
    text: str
    lines: list[str]
    # The lines the edit wrote, in the new text (for showing the changed window).
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


def _replace_lines(before: str, start: int, end: int, new_lines: list[str]) -> tuple[list[str], str]:
    lines = split_lines(before)
    after_lines = lines[: start - 1] + new_lines + lines[end:]
    # A file that lacked a final newline keeps lacking it, unless the edit reached its end.
    ends_with_newline = before.endswith("\n") or not before or end == len(lines)
    return after_lines, _join(after_lines, ends_with_newline)


def _checked(
    path: str,
    before: str,
    after: str,
    after_lines: list[str],
    span: EditSpan,
    lint_mode: LintMode,
    viewer: Viewer,
) -> AppliedEdit:
    issues = [] if lint_mode == "off" else introduced_issues(path, before, after, span)
    if issues and lint_mode == "block":
        raise EditRejected(_rejection(path, viewer, before, after_lines, span, issues), issues)
    return AppliedEdit(
        text=after, lines=after_lines, start=span.start, new_line_count=span.new_line_count, warnings=issues
    )


def apply_line_edit(
    path: str, before: str, start: int, end: int, replacement: str, *, lint_mode: LintMode, viewer: Viewer
) -> AppliedEdit:
    """Replace lines start..end (1-based, inclusive) of `before` with `replacement`."""
    total = len(split_lines(before))
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
    after_lines, after = _replace_lines(before, start, end, new_lines)
    span = EditSpan(start=start, end=end, new_line_count=len(new_lines))
    return _checked(path, before, after, after_lines, span, lint_mode, viewer)


def apply_insert(
    path: str, before: str, after_line: int, text: str, *, lint_mode: LintMode, viewer: Viewer
) -> AppliedEdit:
    """Insert `text` (whole lines) after line `after_line` (0: at the top)."""
    total = len(split_lines(before))
    if not 0 <= after_line <= total:
        raise EditRejected(f"line {after_line} is out of range: insert after a line from 0 (the top) to {total}.")
    if not text:
        raise EditRejected("Nothing to insert: the text is empty.")
    return apply_line_edit(path, before, after_line + 1, after_line, text, lint_mode=lint_mode, viewer=viewer)


def apply_str_replace(
    path: str, before: str, old: str, new: str, *, lint_mode: LintMode, viewer: Viewer
) -> AppliedEdit:
    """Replace the one occurrence of `old` with `new`."""
    if not old:
        raise EditRejected("old_str is empty: give the exact text to replace (it must occur once).")
    count = before.count(old)
    if count == 0:
        hint = ""
        if old.strip() and before.count(old.strip()) == 1:
            hint = " It does occur with different surrounding whitespace: copy it exactly, indentation included."
        raise EditRejected(f"old_str does not occur in {path}; nothing was replaced.{hint}")
    if count > 1:
        lines = _occurrence_lines(before, old)
        shown = ", ".join(str(n) for n in lines[:20]) + (" ..." if len(lines) > 20 else "")
        raise EditRejected(
            f"old_str occurs {count} times in {path} (starting on lines {shown}); nothing was replaced. "
            "Include more of the surrounding lines so that it occurs once."
        )
    offset = before.index(old)
    after = before[:offset] + new + before[offset + len(old) :]
    start = before.count("\n", 0, offset) + 1
    old_end = start + old.count("\n") - (1 if old.endswith("\n") else 0)
    new_line_count = new.count("\n") + (0 if new.endswith("\n") or not new else 1)
    after_lines = split_lines(after)
    span = EditSpan(start=start, end=max(old_end, start - 1), new_line_count=new_line_count)
    return _checked(path, before, after, after_lines, span, lint_mode, viewer)


def _occurrence_lines(text: str, needle: str) -> list[int]:
    found, position = [], text.find(needle)
    while position != -1:
        found.append(text.count("\n", 0, position) + 1)
        position = text.find(needle, position + 1)
    return found


def _rejection(
    path: str, viewer: Viewer, before: str, after_lines: list[str], span: EditSpan, issues: list[LintIssue]
) -> str:
    before_lines = split_lines(before)
    proposed = Viewer(window=viewer.window, overlap=viewer.overlap, path=path)
    proposed.show_range(span.start, span.start + max(span.new_line_count, 1) - 1, len(after_lines))
    original = Viewer(window=viewer.window, overlap=viewer.overlap, path=path)
    original.show_range(span.start, max(span.start, span.end), len(before_lines))
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
