"""What an observation may hold: no terminal escapes, no unbounded length."""

from __future__ import annotations

import re

# CSI and OSC sequences, and lone escapes: colours, cursor moves, window titles.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# Carriage returns that rewrite a line (progress bars): keep what the line finally shows.
_REWRITTEN_LINE = re.compile(r"[^\n]*\r(?!\n)")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def collapse_carriage_returns(text: str) -> str:
    return _REWRITTEN_LINE.sub("", text)


def truncate_middle(text: str, limit: int) -> str:
    """Cut the middle of a long text, saying how much was left out."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - 120)
    head, tail = text[: keep // 2], text[len(text) - keep // 2 :]
    left_out = len(text) - len(head) - len(tail)
    lines_out = text.count("\n", len(head), len(text) - len(tail))
    note = f"\n\n[... {left_out} characters ({lines_out} lines) left out of the middle ...]\n\n"
    return head + note + tail


def clean(text: str, limit: int) -> str:
    return truncate_middle(collapse_carriage_returns(strip_ansi(text)), limit)
