"""The Buffer: text, edits by offset, line/column lookups and an undo stack."""

from __future__ import annotations

import bisect

from editbuf.edits import Edit
from editbuf.errors import EditError, NothingToUndo


class Buffer:
    def __init__(self, text: str = "") -> None:
        self._text = text
        self._undo: list[Edit] = []
        self._line_starts: list[int] | None = None

    # Reading ----------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._text

    def __str__(self) -> str:
        return self._text

    def __len__(self) -> int:
        return len(self._text)

    def __repr__(self) -> str:
        return f"Buffer({self._text!r})"

    def _starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            starts.extend(i + 1 for i, ch in enumerate(self._text) if ch == "\n")
            self._line_starts = starts
        return self._line_starts

    @property
    def line_count(self) -> int:
        return len(self._starts())

    def position(self, offset: int) -> tuple[int, int]:
        """The 0-based ``(line, column)`` of a character offset."""
        self._check_offset(offset)
        starts = self._starts()
        line = bisect.bisect_right(starts, offset) - 1
        return line, offset - starts[line]

    def offset(self, line: int, column: int) -> int:
        """The character offset of a 0-based ``(line, column)``."""
        starts = self._starts()
        if not 0 <= line < len(starts):
            raise EditError(f"line {line} is out of range 0-{len(starts) - 1}")
        end = starts[line + 1] - 1 if line + 1 < len(starts) else len(self._text)
        if not 0 <= column <= end - starts[line]:
            raise EditError(f"column {column} is out of range 0-{end - starts[line]}")
        return starts[line] + column

    # Editing ----------------------------------------------------------------------------

    def _check_offset(self, offset: int) -> None:
        if not 0 <= offset <= len(self._text):
            raise EditError(f"offset {offset} is out of range 0-{len(self._text)}")

    def _check_range(self, start: int, end: int) -> None:
        self._check_offset(start)
        self._check_offset(end)
        if end < start:
            raise EditError(f"range {start}-{end} ends before it starts")

    def _set_text(self, text: str) -> None:
        self._text = text
        self._line_starts = None

    def _record(self, edit: Edit) -> None:
        self._set_text(edit.apply(self._text))
        self._undo.append(edit)

    def insert(self, offset: int, text: str) -> None:
        self._check_offset(offset)
        if text:
            self._record(Edit(offset, "", text))

    def delete(self, start: int, end: int) -> str:
        """Remove the characters in ``[start, end)``; return them."""
        self._check_range(start, end)
        removed = self._text[start:end]
        if removed:
            self._record(Edit(start, removed, ""))
        return removed

    def replace(self, start: int, end: int, text: str) -> str:
        """Replace the characters in ``[start, end)`` with `text`; return the old ones."""
        self._check_range(start, end)
        removed = self._text[start:end]
        if removed != text:
            self._record(Edit(start, removed, text))
        return removed

    # History ----------------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> None:
        """Revert the most recent edit."""
        if not self._undo:
            raise NothingToUndo("nothing to undo")
        edit = self._undo.pop()
        self._set_text(edit.revert(self._text))
