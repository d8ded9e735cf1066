"""What an observation may hold: no terminal escapes, no unbounded length.

Cleaning works on what will be shown: the text is cut to its head and tail first, then only
those are cleaned, line by line, in time linear in their length (a 1 MB line of output is
handled in milliseconds). Cleaning can only shorten the text, so the limit still holds.
"""

from __future__ import annotations

import re

# CSI and OSC sequences, and lone escapes: colours, cursor moves, window titles.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# An escape the cut left incomplete, or one no pattern above knows: never shown raw.
_STRAY_ESCAPE = re.compile(r"\x1b[\[\]]?[0-?]*[ -/]*")


def strip_ansi(text: str) -> str:
    return _STRAY_ESCAPE.sub("", _ANSI.sub("", text))


def collapse_carriage_returns(text: str) -> str:
    """A line rewritten with carriage returns (a progress bar) keeps what it finally shows;
    a CR just before a newline (CRLF) stays."""
    if "\r" not in text:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        body, crlf = (line[:-1], "\r") if line.endswith("\r") else (line, "")
        if "\r" in body:
            lines[index] = body.rpartition("\r")[2] + crlf
    return "\n".join(lines)


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


def _clean_part(text: str) -> str:
    return collapse_carriage_returns(strip_ansi(text))


def clean(text: str, limit: int) -> str:
    """`text` within `limit` characters, its middle cut if need be, without escapes."""
    cut = truncate_middle(text, limit)
    if cut is text:
        return _clean_part(text)
    # The note sits between the head and the tail; each side is cleaned on its own, so a
    # sequence cut in two by the truncation cannot join across the note.
    keep = max(0, limit - 120) // 2
    head, note, tail = cut[:keep], cut[keep : len(cut) - keep], cut[len(cut) - keep :]
    return _clean_part(head) + note + _clean_part(tail)
