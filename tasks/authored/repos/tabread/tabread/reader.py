"""Parsing delimited text into a Table."""

from __future__ import annotations

import csv
import io

from tabread.table import Table


class TableError(ValueError):
    """Text that is not a well-formed table, or a request the table cannot satisfy."""


def _check_delimiter(delimiter: str) -> None:
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise TableError(f"delimiter must be one character other than a quote or newline, "
                         f"got {delimiter!r}")


def read_table(text: str, delimiter: str = ",", header: bool = True) -> Table:
    """Parse `text` into a Table.

    Blank lines are skipped. Every row must have as many fields as the first one. Without a
    header the columns are named "1", "2", ...
    """
    _check_delimiter(delimiter)
    records = [
        record
        for record in csv.reader(io.StringIO(text), delimiter=delimiter)
        if record and any(value.strip() for value in record)
    ]
    if not records:
        raise TableError("the table is empty")
    width = len(records[0])
    for number, record in enumerate(records[1:], start=2):
        if len(record) != width:
            raise TableError(f"row {number} has {len(record)} fields, expected {width}")
    if header:
        columns = [name.strip() for name in records[0]]
        return Table(columns, records[1:])
    return Table([str(n) for n in range(1, width + 1)], records)
