"""The windowed file viewer: which file is open, which lines the agent sees, how they render."""

from __future__ import annotations

from dataclasses import dataclass


def split_lines(text: str) -> list[str]:
    """Lines without their newline; a final newline adds no empty line. A CRLF file keeps
    its \r at the end of each line, so an edit writes the file back as it was."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


@dataclass
class Viewer:
    window: int = 100
    # Lines of the previous window kept when scrolling, so the agent does not lose its place.
    overlap: int = 2
    path: str | None = None
    first_line: int = 1  # 1-based top of the window

    def open(self, path: str, total_lines: int, line: int | None) -> None:
        self.path = path
        if line is None:
            self.first_line = 1
        else:
            self.center_on(line, total_lines)

    def center_on(self, line: int, total_lines: int) -> None:
        self.first_line = self._clamp(line - self.window // 2, total_lines)

    def scroll(self, direction: int, total_lines: int) -> None:
        step = max(1, self.window - self.overlap)
        self.first_line = self._clamp(self.first_line + direction * step, total_lines)

    def show_range(self, start: int, end: int, total_lines: int) -> None:
        """Move the window so that lines start..end are in view (their top if they do not fit)."""
        if end - start + 1 >= self.window:
            self.first_line = self._clamp(start, total_lines)
        else:
            self.center_on((start + end) // 2, total_lines)

    def _clamp(self, first: int, total_lines: int) -> int:
        last_possible_top = max(1, total_lines - self.window + 1)
        return max(1, min(first, last_possible_top))

    def render(self, lines: list[str], path: str | None = None) -> str:
        """The window as the agent sees it: a header, numbered lines, what lies beyond."""
        total = len(lines)
        first = self._clamp(self.first_line, total)
        last = min(total, first + self.window - 1)
        shown_path = path or self.path or "?"
        out = [f"[File: {shown_path} ({total} lines total)]"]
        if first > 1:
            out.append(f"({first - 1} more lines above)")
        width = len(str(last)) if last else 1
        for number in range(first, last + 1):
            out.append(f"{number:>{width}}:{lines[number - 1]}")
        if total == 0:
            out.append("(this file is empty)")
        if last < total:
            out.append(f"({total - last} more lines below)")
        return "\n".join(out)
