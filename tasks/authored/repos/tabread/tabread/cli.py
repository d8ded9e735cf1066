"""The tabread command."""

from __future__ import annotations

import argparse
import sys

from tabread.reader import TableError, read_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tabread", description="Print a delimited text table as aligned columns."
    )
    parser.add_argument("file", help="the table to read; '-' for standard input")
    parser.add_argument(
        "--delimiter", default=",", help="field separator, one character; '\\t' for a tab"
    )
    parser.add_argument("--columns", help="comma-separated names of the columns to keep")
    parser.add_argument(
        "--no-header", dest="header", action="store_false", help="the first line is data"
    )
    return parser


def _read_input(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    with open(name, encoding="utf-8", newline="") as handle:
        return handle.read()


def _fail(message: str) -> int:
    print(f"tabread: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status (0, or 2 on any error)."""
    args = _parser().parse_args(argv)
    delimiter = "\t" if args.delimiter == "\\t" else args.delimiter
    try:
        text = _read_input(args.file)
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        table = read_table(text, delimiter=delimiter, header=args.header)
        if args.columns:
            table = table.select([name.strip() for name in args.columns.split(",")])
    except TableError as exc:
        return _fail(str(exc))
    print(table.render())
    return 0
