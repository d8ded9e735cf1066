"""Viewing files: open, goto, scroll_up, scroll_down, outline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentenv.aci.errors import CommandError
from agentenv.aci.symbols import outline as outline_symbols
from agentenv.aci.symbols import render_outline
from agentenv.aci.viewer import split_lines

if TYPE_CHECKING:
    from agentenv.aci.interface import ACI


def _check_line(line: int, total: int, path: str) -> None:
    if not 1 <= line <= max(1, total):
        raise CommandError(f"line_number {line} is out of range: {path} has {total} lines.")


def cmd_open(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.resolve(args["path"])
    lines = split_lines(aci.read_text(path))
    line = args.get("line_number")
    if line is not None:
        _check_line(line, len(lines), path)
    aci.viewer.open(path, len(lines), line)
    return aci.viewer.render(lines)


def cmd_goto(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path, lines = aci.open_file_lines()
    _check_line(args["line_number"], len(lines), path)
    aci.viewer.center_on(args["line_number"], len(lines))
    return aci.viewer.render(lines)


def cmd_scroll_down(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    _, lines = aci.open_file_lines()
    aci.viewer.scroll(+1, len(lines))
    return aci.viewer.render(lines)


def cmd_scroll_up(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    _, lines = aci.open_file_lines()
    aci.viewer.scroll(-1, len(lines))
    return aci.viewer.render(lines)


def cmd_outline(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.resolve(args["path"])
    text = aci.read_text(path)
    symbols = outline_symbols(path, text)
    if symbols is None:
        raise CommandError(
            f"outline does not know the language of {path}; it reads Python, JavaScript, "
            "TypeScript, Go, Rust, Java, C and C++ files."
        )
    return render_outline(path, symbols, len(split_lines(text)))


COMMANDS = {
    "open": cmd_open,
    "goto": cmd_goto,
    "scroll_down": cmd_scroll_down,
    "scroll_up": cmd_scroll_up,
    "outline": cmd_outline,
}
