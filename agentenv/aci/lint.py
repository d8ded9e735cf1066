"""Lint guard for agent edits: does an edit *introduce* syntax (or, for Python, name) errors?

The ACI computes the new text of a file on the host and asks `introduced_issues` before writing
it. Errors the file already had never block an edit: SWE-agent found that agents thrash when a
guard rejects edits over errors they did not make. Everything here runs on the host, never in
the task container, and never raises: an input we cannot analyse yields no issues, so the guard
fails open rather than blocking the agent.

Checks: a tree-sitter parse for every supported language (ERROR and MISSING nodes); for Python,
also `compile()` (the interpreter's own verdict) and pyflakes, restricted to undefined names and
duplicate arguments (style warnings such as unused imports must not block edits).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

import pyflakes.checker
import pyflakes.messages
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tree_sitter import Node, Parser
from tree_sitter_language_pack import get_parser

from agentenv import pyast

__all__ = ["MAX_LINT_CHARS", "EditSpan", "LintIssue", "format_issues", "introduced_issues",
           "language_for_path", "lint"]

# Above this size a file is generated or minified; linting it would cost seconds, so we pass it.
MAX_LINT_CHARS = 1_000_000
_SNIPPET_CHARS = 20

_LANGUAGE_BY_SUFFIX: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
}
# The file name endings the guard (and the symbol outline) understand.
SOURCE_SUFFIXES: frozenset[str] = frozenset(_LANGUAGE_BY_SUFFIX)

# Only these pyflakes findings are errors; the rest (unused imports, ...) are style.
_PYFLAKES_ERRORS = (pyflakes.messages.UndefinedName, pyflakes.messages.DuplicateArgument)

# CPython cites other lines in messages ("... on line 12"); an edit above shifts that number,
# so matching ignores it.
_LINE_REFERENCE = re.compile(r"\bline \d+")


class LintIssue(BaseModel):
    """One error found in a text, at a 1-based line and (character) column."""

    model_config = ConfigDict(frozen=True)

    line: int
    column: int
    message: str
    source: Literal["tree-sitter", "pyflakes", "python"]


class EditSpan(BaseModel):
    """The lines an edit replaced: `start..end` of the before text became `new_line_count` lines."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=1)
    end: int = Field(ge=0)
    new_line_count: int = Field(ge=0)

    @model_validator(mode="after")
    def _end_not_before_start(self) -> EditSpan:
        if self.end < self.start - 1:
            raise ValueError(f"end ({self.end}) must be >= start - 1 ({self.start - 1})")
        return self

    @property
    def line_delta(self) -> int:
        return self.new_line_count - (self.end - self.start + 1)

    def maps_to(self, line: int) -> int | None:
        """Where a before-text line sits in the after text; None if the edit replaced it."""
        if self.start <= line <= self.end:
            return None
        return line if line < self.start else line + self.line_delta

    def covers_new(self, line: int) -> bool:
        """Whether an after-text line was written by the edit."""
        return self.start <= line < self.start + self.new_line_count


def language_for_path(path: str) -> str | None:
    return _LANGUAGE_BY_SUFFIX.get(PurePath(path).suffix.lower())


def lint(path: str, text: str) -> list[LintIssue]:
    """All errors in `text`, sorted by position; [] for unknown languages or unreadable input."""
    try:
        language = language_for_path(path)
        if language is None or len(text) > MAX_LINT_CHARS:
            return []
        return sorted(_findings(path, language, text).everything(), key=_position)
    except Exception:  # the guard fails open: a lint crash must never stop an edit
        return []


def introduced_issues(
    path: str, before: str, after: str, edit: EditSpan | None = None
) -> list[LintIssue]:
    """The issues of `after` that `before` did not already have.

    Issues outside the edit are matched at their shifted line; what is left is matched on message
    alone (multiset counting), so a pre-existing error that moved (tree-sitter's recovery drifts,
    a MISSING '}' follows the end of the file) is still recognised. Without `edit`, the span is
    derived from the lines the two texts share at the start and the end.
    """
    try:
        language = language_for_path(path)
        if language is None or max(len(before), len(after)) > MAX_LINT_CHARS:
            return []
        new = _findings(path, language, after)
        if not new.everything():
            return []
        old = _findings(path, language, before, baseline=bool(new.tree))
        span = edit or _changed_span(before, after)
        fresh = _unmatched(old.everything(), new.everything(), span)
        if old.names is None:
            # `before` did not compile, so its names were never checked: only blame the agent
            # for undefined names in the lines it wrote.
            fresh = [i for i in fresh if i.source != "pyflakes" or span.covers_new(i.line)]
        return sorted(fresh, key=_position)
    except Exception:
        return []


def format_issues(issues: Sequence[LintIssue], limit: int = 10) -> str:
    """One line per issue for the agent, at most `limit` of them."""
    shown = max(limit, 0)
    lines = [f"- line {i.line}, col {i.column}: {i.message}" for i in issues[:shown]]
    if len(issues) > shown:
        lines.append(f"({len(issues) - shown} more)")
    return "\n".join(lines)


# --- what one text contains ---------------------------------------------------------------
@dataclass(frozen=True)
class _Findings:
    syntax: tuple[LintIssue, ...] = ()  # compile(): Python only, at most one (the first error)
    tree: tuple[LintIssue, ...] = ()  # tree-sitter
    names: tuple[LintIssue, ...] | None = ()  # pyflakes; None when the text did not compile

    def everything(self) -> list[LintIssue]:
        return [*self.syntax, *self.tree, *(self.names or ())]


def _findings(path: str, language: str, text: str, baseline: bool = False) -> _Findings:
    """What `text` contains. A `baseline` (the before side of a comparison) also counts, for
    Python, everything tree-sitter sees in the whole text: more baseline never blames the agent
    for an old error, it can only excuse a new one."""
    if language != "python":
        return _Findings(tree=_tree_issues_for(path, language, text))
    syntax, names = _python_checks(path, text)
    tree: tuple[LintIssue, ...] = ()
    if syntax:
        # compile() stops at the first error; tree-sitter finds the others. Blanking the
        # statement compile() stopped in keeps tree-sitter from re-reporting that error as a
        # cascade over the following lines (its Python recovery is poor).
        tree = _tree_issues(language, _blank_statement(text, syntax[0].line))
    if baseline:
        # Text CPython compiles is valid, so tree-sitter errors in it are grammar gaps; they
        # are only worth a parse when the other side has tree-sitter issues to excuse.
        tree = tuple((Counter(tree) | Counter(_tree_issues(language, text))).elements())
    return _Findings(syntax=syntax, tree=tree, names=names)


def _position(issue: LintIssue) -> tuple[int, int, str]:
    return (issue.line, issue.column, issue.message)


# --- tree-sitter --------------------------------------------------------------------------
_parsers = threading.local()  # a Parser is not thread-safe; rollouts may lint from threads


def _parser(language: str) -> Parser:
    by_language: dict[str, Parser] = _parsers.__dict__.setdefault("by_language", {})
    if language not in by_language:
        by_language[language] = get_parser(language)  # type: ignore[arg-type]
    return by_language[language]


def _tree_issues_for(path: str, language: str, text: str) -> tuple[LintIssue, ...]:
    issues = _tree_issues(language, text)
    if issues and language == "c" and path.lower().endswith(".h"):
        # `.h` is C by extension but often C++: a C++ header must not drown in C parse errors.
        return min(issues, _tree_issues("cpp", text), key=len)
    return issues


# Cached because `before` of one edit is usually `after` of the previous one.
@functools.lru_cache(maxsize=16)
def _tree_issues(language: str, text: str) -> tuple[LintIssue, ...]:
    source = text.encode("utf-8", "replace")
    root = _parser(language).parse(source).root_node
    return tuple(_node_issue(node, source) for node in _error_nodes(root))


def _error_nodes(root: Node) -> Iterator[Node]:
    """ERROR and MISSING nodes in document order, without descending into an ERROR node:
    what lies inside one is the same mistake seen again (a cascade)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            yield node
        elif node.has_error:  # set on every ancestor of an ERROR or MISSING node
            stack.extend(reversed(node.children))


def _node_issue(node: Node, source: bytes) -> LintIssue:
    row, byte_column = node.start_point
    line_start = node.start_byte - byte_column
    column = len(source[line_start : node.start_byte].decode("utf-8", "replace")) + 1
    return LintIssue(
        line=row + 1, column=column, message=_node_message(node, source), source="tree-sitter"
    )


def _node_message(node: Node, source: bytes) -> str:
    if node.is_missing:
        # Named nodes are kinds ("identifier"), anonymous ones are literal tokens ("';'").
        return f"missing {node.type}" if node.is_named else f"missing '{node.type}'"
    snippet = _snippet(source[node.start_byte : node.end_byte])
    if not snippet:
        return "syntax error"
    one_token = node.child_count == 0 or (
        node.child_count == 1 and node.children[0].child_count == 0
    )
    return f"syntax error: unexpected '{snippet}'" if one_token else f"syntax error near '{snippet}'"


def _snippet(raw: bytes) -> str:
    """The start of the error's first line, printable and short: the agent reads it, and
    matching compares it, so it must not depend on lines below the error."""
    first_line = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
    text = " ".join(first_line.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "…"


# --- Python: compile() and pyflakes -------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _python_checks(
    path: str, text: str
) -> tuple[tuple[LintIssue, ...], tuple[LintIssue, ...] | None]:
    """(compile errors, name errors); name errors are None when the text does not compile."""
    if "\0" in text:  # where CPython reports it depends on its version; say where it is
        return (_nul_issue(text),), None
    with _quiet_and_gc_paused():
        try:
            tree = pyast.parse(text, path)
            pyast.compile_tree(tree, path)  # errors only the compiler sees: 'return' outside function
        except SyntaxError as exc:  # IndentationError and TabError included
            return (_syntax_issue(exc),), None
        except Exception:  # a lone surrogate, RecursionError, MemoryError: cannot judge, pass
            return (), None
        try:
            return (), _name_issues(tree, path, text)
        except Exception:
            return (), ()


@contextlib.contextmanager
def _quiet_and_gc_paused() -> Iterator[None]:
    """Silence SyntaxWarnings (a `-W error` run would turn them into errors) and pause the
    cyclic GC, which otherwise rescans the freshly built AST again and again (~15% of the
    time for a large file)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if was_enabled:
            gc.enable()


# A line that does not start a new top-level statement: blank, indented, a comment, a closing
# bracket, or a clause of the statement above.
_CONTINUES_STATEMENT = re.compile(r"$|[\s#)\]}]|(?:else|elif|except|finally)\b")


def _blank_statement(text: str, line: int) -> str:
    """`text` with the top-level statement around `line` emptied, line numbers kept."""
    lines = text.split("\n")
    start = end = min(max(line, 1), len(lines))
    while start > 1 and _CONTINUES_STATEMENT.match(lines[start - 1]):
        start -= 1
    while start > 1 and lines[start - 2].startswith("@"):  # its decorators
        start -= 1
    while end < len(lines) and _CONTINUES_STATEMENT.match(lines[end]):
        end += 1
    lines[start - 1 : end] = [""] * (end - start + 1)
    return "\n".join(lines)


def _syntax_issue(exc: SyntaxError) -> LintIssue:
    message = f"{type(exc).__name__}: {exc.msg or 'invalid syntax'}"
    line, column = max(exc.lineno or 1, 1), max(exc.offset or 1, 1)
    return LintIssue(line=line, column=column, message=message, source="python")


def _nul_issue(text: str) -> LintIssue:
    offset = text.index("\0")
    line, column = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
    message = "SyntaxError: source code cannot contain null bytes"
    return LintIssue(line=line, column=column, message=message, source="python")


class _Checker(pyflakes.checker.Checker):
    """pyflakes, minus a hot spot: `futuresAllowed` rescans the whole scope stack for every
    node, yet outside the module scope the answer is always no (same results, ~15% faster)."""

    @property
    def futuresAllowed(self) -> bool:
        if not isinstance(self.scope, pyflakes.checker.ModuleScope):
            return False
        return bool(pyflakes.checker.Checker.futuresAllowed.fget(self))  # type: ignore[attr-defined]

    @futuresAllowed.setter
    def futuresAllowed(self, value: bool) -> None:
        pyflakes.checker.Checker.futuresAllowed.fset(self, value)  # type: ignore[attr-defined]


def _name_issues(tree: ast.Module, path: str, text: str) -> tuple[LintIssue, ...]:
    checker = _Checker(tree, filename=path)
    lines = None if text.isascii() else text.split("\n")
    return tuple(
        LintIssue(
            line=m.lineno,
            column=_char_column(lines, m.lineno, m.col),
            message=m.message % m.message_args,
            source="pyflakes",
        )
        for m in checker.messages
        if isinstance(m, _PYFLAKES_ERRORS)
    )


def _char_column(lines: list[str] | None, line: int, byte_offset: int) -> int:
    """1-based character column from an ast col_offset, which counts UTF-8 bytes."""
    if lines is None or not 0 < line <= len(lines):
        return byte_offset + 1
    prefix = lines[line - 1].encode("utf-8", "replace")[:byte_offset]
    return len(prefix.decode("utf-8", "replace")) + 1


# --- matching before against after --------------------------------------------------------
def _changed_span(before: str, after: str) -> EditSpan:
    """The smallest span that turns `before` into `after`: lines outside it are shared."""
    old, new = before.split("\n"), after.split("\n")
    shortest = min(len(old), len(new))
    prefix = 0
    while prefix < shortest and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return EditSpan(
        start=prefix + 1, end=len(old) - suffix, new_line_count=len(new) - prefix - suffix
    )


def _key(issue: LintIssue) -> tuple[str, str]:
    return issue.source, _LINE_REFERENCE.sub("line N", issue.message)


def _unmatched(
    before: list[LintIssue], after: list[LintIssue], span: EditSpan
) -> list[LintIssue]:
    # Pass 1: a before issue outside the edit is expected at its shifted line.
    expected: Counter[tuple[tuple[str, str], int]] = Counter()
    pool: dict[tuple[str, str], list[int | None]] = {}  # pass 2 candidates and where they were
    for issue in before:
        line = span.maps_to(issue.line)
        if line is None:
            pool.setdefault(_key(issue), []).append(None)
        else:
            expected[_key(issue), line] += 1
    leftover = []
    for issue in after:
        if expected[_key(issue), issue.line] > 0:
            expected[_key(issue), issue.line] -= 1
        else:
            leftover.append(issue)
    for (key, line), count in expected.items():
        pool.setdefault(key, []).extend([line] * count)

    # Pass 2: message-only matching. Issues outside the edit go first: an issue in the lines
    # the agent wrote is the likelier new one.
    leftover.sort(key=lambda i: (span.covers_new(i.line), i.line, i.column))
    fresh = []
    for issue in leftover:
        candidates = pool.get(_key(issue), [])
        found = next((n for n, was in enumerate(candidates) if _may_be(issue, was)), None)
        if found is None:
            fresh.append(issue)
        else:
            candidates.pop(found)
    return fresh


def _may_be(issue: LintIssue, was_at: int | None) -> bool:
    """Whether `issue` may be an old issue (expected at line `was_at`) that moved.

    compile() stops at the first error, so an old one is masked, not moved, when a new error
    appears above it: a compile error above the old one's place is new. Drifting down is fine
    (an unexpected end of file follows lines appended at the end)."""
    return issue.source != "python" or was_at is None or issue.line >= was_at
