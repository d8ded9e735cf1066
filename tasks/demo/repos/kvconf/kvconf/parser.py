"""Turning configuration text into a :class:`~kvconf.config.Config`.

The format, line by line:

* blank lines, and lines whose first non-blank character is ``#`` or ``;``, are ignored;
* ``[name]`` starts a section;
* ``key = value`` or ``key: value`` sets a key in the current section;
* a ``#`` or ``;`` that follows whitespace starts an inline comment, so ``url = http://h/#top``
  keeps its ``#``;
* a value may be quoted: ``"..."`` understands ``\\"``, ``\\\\``, ``\\n`` and ``\\t``, and
  ``'...'`` is taken literally. Quoting keeps surrounding spaces, ``#`` and ``;``.
"""

from __future__ import annotations

import os
import re
from typing import Union

from kvconf.config import Config
from kvconf.errors import ParseError

_SECTION = re.compile(r"^\[\s*([^\]]+?)\s*\]$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_COMMENT_CHARS = "#;"
_QUOTES = "\"'"
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _find_closing_quote(text: str) -> int:
    """Index of the quote that closes the one at ``text[0]``, or -1 when it is never closed."""
    quote = text[0]
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index
        index += 1
    return -1


def _strip_inline_comment(text: str) -> str:
    """Remove a trailing ``# comment`` or ``; comment`` from a value."""
    for index, char in enumerate(text):
        if char in _COMMENT_CHARS and (index == 0 or text[index - 1].isspace()):
            return text[:index].rstrip()
    return text


def _unescape(body: str, lineno: int, line: str) -> str:
    out = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        if escaped not in _ESCAPES:
            raise ParseError(f"unknown escape \\{escaped}", lineno, line)
        out.append(_ESCAPES[escaped])
    return "".join(out)


def _unquote(text: str, lineno: int, line: str) -> str:
    if not text or text[0] not in _QUOTES:
        return text
    end = _find_closing_quote(text)
    if end < 0:
        raise ParseError("unterminated quoted value", lineno, line)
    if text[end + 1 :].strip():
        raise ParseError("unexpected text after the closing quote", lineno, line)
    body = text[1:end]
    return body if text[0] == "'" else _unescape(body, lineno, line)


def loads(text: str) -> Config:
    """Parse configuration text. Raises :class:`ParseError` on the first bad line."""
    config = Config()
    section = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in _COMMENT_CHARS:
            continue
        header = _SECTION.match(_strip_inline_comment(line))
        if header:
            section = header.group(1)
            continue
        match = re.match(r"^([^=:]+?)\s*[=:]\s*(.*)$", line)
        if not match:
            raise ParseError("expected 'key = value' or '[section]'", lineno, raw)
        key, value = match.groups()
        if not _KEY.match(key):
            raise ParseError(f"invalid key {key!r}", lineno, raw)
        value = _unquote(_strip_inline_comment(value), lineno, raw)
        config.set(section, key, value)
    return config


def load(path: Union[str, "os.PathLike[str]"], encoding: str = "utf-8") -> Config:
    """Read and parse the file at ``path``."""
    with open(path, encoding=encoding) as handle:
        return loads(handle.read())
