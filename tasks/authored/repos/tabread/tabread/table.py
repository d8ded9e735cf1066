"""A table: named columns and rows of strings, and its aligned text rendering."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[str]:
        """The values of one column, top to bottom."""
        index = self._index(name)
        return [row[index] for row in self.rows]

    def _index(self, name: str) -> int:
        try:
            return self.columns.index(name)
        except ValueError:
            # Imported here to keep table.py free of reader's csv details.
            from tabread.reader import TableError

            raise TableError(f"no column named {name!r}") from None

    def select(self, names: list[str]) -> Table:
        """A new table with only the named columns, in the order given."""
        indexes = [self._index(name) for name in names]
        return Table(list(names), [[row[i] for i in indexes] for row in self.rows])

    def render(self) -> str:
        """The table as left-aligned columns two spaces apart, with a dashed rule under the
        header. Trailing spaces are stripped from every line."""
        widths = [len(name) for name in self.columns]
        for row in self.rows:
            widths = [max(w, len(value)) for w, value in zip(widths, row)]
        lines = [self.columns, ["-" * w for w in widths], *self.rows]
        return "\n".join(
            "  ".join(value.ljust(w) for value, w in zip(line, widths)).rstrip()
            for line in lines
        )
