"""Unified and git diff text: split a patch into files, drop files, parse and replay hunks.

The bottom layer: it imports nothing from agentenv. Two formats are read:

- git's (``diff --git`` sections, with new, deleted, renamed, copied, binary and mode-only
  files, and C-quoted paths such as ``"a/t\\303\\251st.py"``);
- plain unified diffs (``--- a/x`` / ``+++ b/x`` pairs without a ``diff --git`` line).

Paths are returned without git's ``a/`` and ``b/`` prefixes; ``/dev/null`` becomes ``None``.
Lines are split on ``"\\n"`` only, so ``"\\r"``, form feeds and other characters that
``str.splitlines`` would split on stay inside a line, as they do for git.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

_GIT_HEADER = "diff --git "
_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_NEWLINE_MARKER = "\\"  # "\ No newline at end of file" (the text after it is localized)
# Folders that hold tests wherever they are.
_TEST_DIRS = {"tests", "__tests__", "__test__", "spec", "specs"}
# Folders named test or testing hold tests at the top of a repository (pytest's testing/, a C
# project's test/) and as Maven's src/test; inside a package they are library code that other
# projects test with (django/test, numpy/testing, sympy/testing, matplotlib/testing).
_TOP_TEST_DIRS = {"test", "testing"}
# Matched against the file name, case-sensitively: "Test" in Java's FooTest.java is a convention,
# "test" in Latest.java is not.
_TEST_FILE_NAME = re.compile(
    r"|".join(
        [
            r"test_.+\.py|.+_tests?\.py|tests?\.py|conftest\.py",
            r".+_test\.(go|rs|dart|exs|c|cc|cpp|cxx|h|hpp)|.+_unittest\.(c|cc|cpp|cxx)",
            r".+\.test\.(js|jsx|ts|tsx|mjs|cjs|mts|cts)|.+\.spec\.[^.]+",
            r"(Test[A-Z0-9_].*|.+Tests?|.+IT|.+Spec|.+Suite)\.(java|kt|scala|groovy)",
            r".+Tests?\.(cs|swift|php|m)",
            r".+_(spec|test)\.rb|test_.+\.rb",
        ]
    )
)


class PatchFormatError(ValueError):
    """The text is not a diff; the message names the (1-based) line and what is wrong."""


class PatchApplyError(ValueError):
    """A hunk's old lines are not where its header says they are."""


class FilePatch(BaseModel):
    """One file's section of a patch, its header lines included."""

    model_config = ConfigDict(frozen=True)

    old_path: str | None  # None for a new file (/dev/null)
    new_path: str | None  # None for a deleted file
    text: str  # ends in "\n"; join_patch of the sections gives the patch back byte for byte

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


class Hunk(BaseModel):
    """One ``@@ -a,b +c,d @@`` block.

    ``lines`` keep their ``' '``, ``'-'`` or ``'+'`` prefix and their ``"\\n"``. A
    ``\\ No newline at end of file`` marker is not kept as a line: it is folded into the
    line before it, which then has no ``"\\n"`` -- exactly as in the file. So
    ``old_text``/``new_text`` are the file's bytes for this range, and replaying hunks is
    plain concatenation. An empty line in a hunk (a context line whose space an editor
    stripped, which git accepts) is given back as ``" \\n"``.

    When ``old_count`` is 0 (pure insertion), ``old_start`` is the line *after which* the new
    lines go (0 = top of file), as in diff's own convention; likewise for ``new_start``.
    """

    model_config = ConfigDict(frozen=True)

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: list[str]

    @property
    def old_text(self) -> str:
        return "".join(line[1:] for line in self.lines if line[0] in " -")

    @property
    def new_text(self) -> str:
        return "".join(line[1:] for line in self.lines if line[0] in " +")


# ---------------------------------------------------------------------------- splitting


@dataclass
class _Section:
    first_line: int  # 1-based, for error messages
    git: bool
    lines: list[str] = field(default_factory=list)
    has_file_lines: bool = False  # the ---/+++ pair was seen
    has_hunks: bool = False


def split_patch(patch: str) -> list[FilePatch]:
    """The patch's file sections, in order. Empty (or blank) text gives ``[]``.

    Text before the first file header (a commit message, a code fence) is ignored, as
    ``git apply`` ignores it; text after a file's last hunk stays in that file's section.
    Hunks are checked against their line counts, so a truncated patch is an error.
    """
    if not patch.strip():
        return []
    lines = _split_lines(patch)
    sections = _scan_sections(lines)
    if not sections:
        number, line = next((n, s) for n, s in enumerate(lines, 1) if s.strip())
        raise PatchFormatError(
            f"line {number}: not a diff: expected a 'diff --git' line or a '--- '/'+++ ' "
            f"pair, found {line.rstrip(chr(10))!r}"
        )
    return [_file_patch(section) for section in sections]


def join_patch(files: list[FilePatch]) -> str:
    return "".join(file.text for file in files)


_HEADER_PREFIXES = (
    "diff --git ", "old mode ", "new mode ", "deleted file mode ", "new file mode ", "copy from ",
    "copy to ", "rename from ", "rename to ", "similarity index ", "dissimilarity index ", "index ",
    "--- ", "+++ ", "Binary files ",
)  # fmt: skip


def without_trailing_text(file: FilePatch) -> FilePatch:
    """The section as `git apply` reads it, and nothing more: text after its last hunk or
    binary block (a mail signature, prose, a context diff that `patch` would apply) is left
    out, so that whatever program applies the section applies only what was parsed."""
    lines = _split_lines(file.text)
    end = 0
    while end < len(lines) and lines[end].startswith(_HEADER_PREFIXES):
        end += 1  # the header; alone, it is a whole section (a mode change, a rename)
    i = end
    while i < len(lines):
        if lines[i].startswith("@@"):
            i = end = _hunk_end(lines, i, offset=0)
        elif lines[i].startswith("GIT binary patch"):
            i = end = _binary_end(lines, i + 1)
        else:
            i += 1
    return file.model_copy(update={"text": "".join(lines[:end])}) if end else file


def _binary_end(lines: list[str], start: int) -> int:
    """Past the one or two `literal`/`delta` blocks of a git binary patch."""
    i = start
    for _ in range(2):
        if i >= len(lines) or not lines[i].startswith(("literal ", "delta ")):
            break
        i += 1
        while i < len(lines) and lines[i].strip():
            i += 1
        i += 1  # the empty line that ends the block
    return min(i, len(lines))


def files_in_patch(patch: str) -> list[str]:
    """Paths the patch touches (both sides of a rename or copy), in order, once each."""
    paths: dict[str, None] = {}
    for file in split_patch(patch):
        for path in (file.old_path, file.new_path):
            if path is not None:
                paths[path] = None
    return list(paths)


def drop_files(patch: str, paths_to_drop: Callable[[str], bool]) -> tuple[str, list[str]]:
    """The patch without the sections whose old or new path matches, and the dropped paths."""
    kept: list[FilePatch] = []
    dropped: dict[str, None] = {}
    for file in split_patch(patch):
        sides = [p for p in (file.old_path, file.new_path) if p is not None]
        if any(paths_to_drop(p) for p in sides):
            dropped.update(dict.fromkeys(sides))
        else:
            kept.append(file)
    return join_patch(kept), list(dropped)


def is_test_path(path: str) -> bool:
    """Whether a repository path is a test file by the common conventions of its language.

    A folder named tests, __tests__ or spec (any case) anywhere on the path; test or testing at
    the top or under src/ (not django/test/ or numpy/testing/: library code); or a file name
    such as test_x.py, x_test.py, conftest.py, x_test.go, x.test.ts, x.spec.js, FooTest.java,
    FooTests.cs, x_spec.rb. Not: latest.py, contest/x.py, attestation.py.
    """
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return False
    folders = [part.lower() for part in parts[:-1]]
    if any(folder in _TEST_DIRS for folder in folders):
        return True
    top = folders[1:2] if folders[:1] == ["src"] else folders[:1]
    if top and top[0] in _TOP_TEST_DIRS:
        return True
    return _TEST_FILE_NAME.fullmatch(parts[-1]) is not None


def _split_lines(text: str) -> list[str]:
    """Lines with their "\\n"; only "\\n" ends a line (the last may lack it)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _scan_sections(lines: list[str]) -> list[_Section]:
    sections: list[_Section] = []
    current: _Section | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(_GIT_HEADER):
            current = _Section(first_line=i + 1, git=True)
            sections.append(current)
            current.lines.append(line)
            i += 1
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            # A git section owns the first pair after its header; any other pair starts a
            # plain unified section.
            if current is None or not current.git or current.has_file_lines or current.has_hunks:
                current = _Section(first_line=i + 1, git=False)
                sections.append(current)
            current.lines += lines[i : i + 2]
            current.has_file_lines = True
            i += 2
        elif line.startswith("@@"):
            if current is None or not current.has_file_lines:
                raise PatchFormatError(
                    f"line {i + 1}: hunk header before any '--- '/'+++ ' file lines"
                )
            end = _hunk_end(lines, i, offset=0)
            current.lines += lines[i:end]
            current.has_hunks = True
            i = end
        else:
            if current is not None:
                current.lines.append(line)
            i += 1
    return sections


def _line_kind(line: str) -> str:
    """' ', '-', '+', '\\\\' for hunk lines, '' for anything else."""
    if line in ("\n", ""):
        return " "  # an empty context line: GNU diff writes these, git accepts them
    return line[0] if line[0] in " -+\\" else ""


def _hunk_end(lines: list[str], start: int, offset: int) -> int:
    """Index just past the hunk whose header is lines[start]; checks the counts.

    ``offset`` turns indexes into the line numbers of the whole patch for messages.
    """
    header = _parse_hunk_header(lines[start], start + 1 + offset)
    old_left, new_left = header[1], header[3]
    i = start + 1
    while old_left > 0 or new_left > 0:
        if i >= len(lines):
            raise PatchFormatError(
                f"line {start + 1 + offset}: hunk cut short: the text ends while "
                f"{old_left} old and {new_left} new lines are still expected"
            )
        kind = _line_kind(lines[i])
        if kind == "":
            raise PatchFormatError(
                f"line {i + 1 + offset}: expected a hunk line (' ', '-', '+' or '\\') for the "
                f"hunk at line {start + 1 + offset}, which still expects {old_left} old and "
                f"{new_left} new lines; found {lines[i].rstrip(chr(10))!r}"
            )
        old_left -= kind in " -"
        new_left -= kind in " +"
        if old_left < 0 or new_left < 0:
            raise PatchFormatError(
                f"line {i + 1 + offset}: more {'old' if old_left < 0 else 'new'} lines than "
                f"the hunk header at line {start + 1 + offset} announces"
            )
        i += 1
    if i < len(lines) and lines[i].startswith(_NO_NEWLINE_MARKER):
        i += 1
    return i


def _parse_hunk_header(line: str, number: int) -> tuple[int, int, int, int]:
    match = _HUNK_HEADER.match(line)
    if match is None:
        raise PatchFormatError(
            f"line {number}: malformed hunk header {line.rstrip(chr(10))!r} "
            f"(expected '@@ -start[,count] +start[,count] @@')"
        )
    # An omitted count means 1 ("@@ -5 +5 @@").
    old_start, old_count, new_start, new_count = (int(g or 1) for g in match.groups())
    return old_start, old_count, new_start, new_count


# ---------------------------------------------------------------------------- paths

_UNSET = object()
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _file_patch(section: _Section) -> FilePatch:
    text = "".join(section.lines)
    if not text.endswith("\n"):
        text += "\n"  # git apply needs it, and so does joining sections
    old, new = _git_paths(section) if section.git else _plain_paths(section)
    if old is None and new is None:
        raise PatchFormatError(
            f"line {section.first_line}: cannot tell the file names from this file header"
        )
    return FilePatch(old_path=old, new_path=new, text=text)


def _plain_paths(section: _Section) -> tuple[str | None, str | None]:
    try:
        minus, plus = section.lines[0][4:], section.lines[1][4:]
        return _path_from_file_line(minus, "a/"), _path_from_file_line(plus, "b/")
    except ValueError as exc:
        raise PatchFormatError(f"line {section.first_line}: {exc}") from None


def _git_paths(section: _Section) -> tuple[str | None, str | None]:
    minus: object = _UNSET
    plus: object = _UNSET
    renamed_from = renamed_to = None
    new_file = deleted = False
    for number, line in enumerate(section.lines, section.first_line):
        body = line.rstrip("\n")
        try:
            if body.startswith(("@@", "GIT binary patch")):
                break  # hunk lines such as "+++ x" are content, not headers
            if body.startswith("--- "):
                minus = _path_from_file_line(body[4:], "a/")
            elif body.startswith("+++ "):
                plus = _path_from_file_line(body[4:], "b/")
            elif body.startswith(("rename from ", "copy from ")):
                renamed_from = _path_token(body.split(" ", 2)[2])
            elif body.startswith(("rename to ", "copy to ")):
                renamed_to = _path_token(body.split(" ", 2)[2])
            elif body.startswith("new file mode"):
                new_file = True
            elif body.startswith("deleted file mode"):
                deleted = True
        except ValueError as exc:
            raise PatchFormatError(f"line {number}: {exc}") from None
    try:
        a, b = _paths_from_git_header(section.lines[0][len(_GIT_HEADER) :].rstrip("\n"))
    except ValueError as exc:
        raise PatchFormatError(f"line {section.first_line}: {exc}") from None
    # The ---/+++ lines are unambiguous; the "diff --git" line is not when names hold spaces.
    old = minus if minus is not _UNSET else renamed_from or a
    new = plus if plus is not _UNSET else renamed_to or b
    if new_file:
        old = None
    if deleted:
        new = None
    return old, new  # type: ignore[return-value]


def _path_from_file_line(text: str, prefix: str) -> str | None:
    """The path on a ---/+++ line; a tab ends it (diff's timestamp, git's space marker)."""
    text = text.rstrip("\n")
    path = _unquote(text)[0] if text.startswith('"') else text.split("\t", 1)[0]
    if path == "/dev/null":
        return None
    return path.removeprefix(prefix)


def _path_token(text: str) -> str:
    return _unquote(text)[0] if text.startswith('"') else text


def _paths_from_git_header(rest: str) -> tuple[str | None, str | None]:
    """The two paths of "diff --git a/X b/Y", or None where the line is ambiguous."""
    if rest.startswith('"'):
        a, end = _unquote(rest)
        b = _path_token(rest[end + 1 :])
        return a.removeprefix("a/"), b.removeprefix("b/")
    if rest.endswith('"') and ' "' in rest:
        cut = rest.rindex(' "')
        return rest[:cut].removeprefix("a/"), _unquote(rest[cut + 1 :])[0].removeprefix("b/")
    # Unquoted names may hold spaces; git writes the same name twice unless it renames.
    half = (len(rest) - 1) // 2
    if len(rest) % 2 == 1 and rest[half] == " ":
        a, b = rest[:half].removeprefix("a/"), rest[half + 1 :].removeprefix("b/")
        if a == b:
            return a, b
    if rest.count(" b/") == 1:
        a, b = rest.split(" b/")
        return a.removeprefix("a/"), b
    return None, None


def _unquote(text: str) -> tuple[str, int]:
    """Decode a C-quoted git path at the start of text; returns it and the index after it."""
    out = bytearray()
    i = 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return out.decode("utf-8", "surrogateescape"), i + 1
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            i += 1
        elif text[i + 1 : i + 2] in _C_ESCAPES:
            out.append(_C_ESCAPES[text[i + 1]])
            i += 2
        elif re.fullmatch(r"[0-3][0-7]{2}", text[i + 1 : i + 4]):
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        else:
            raise ValueError(f"bad escape in quoted path {text!r}")
    raise ValueError(f"unterminated quoted path {text!r}")


# ---------------------------------------------------------------------------- hunks


def parse_hunks(file_patch: FilePatch) -> list[Hunk]:
    """The file's hunks, exactly as written (see ``Hunk`` for the line conventions).

    Binary, mode-only and pure-rename sections have none. Line numbers in errors count
    from the first line of this file's section.
    """
    lines = _split_lines(file_patch.text)
    hunks: list[Hunk] = []
    i = next((n for n, line in enumerate(lines) if line.startswith(("+++ ", "GIT binary"))), 0)
    while i < len(lines):
        if lines[i].startswith("GIT binary patch"):
            break
        if not lines[i].startswith("@@"):
            i += 1
            continue
        end = _hunk_end(lines, i, offset=0)
        hunks.append(_make_hunk(lines, i, end))
        i = end
    return hunks


def _make_hunk(lines: list[str], start: int, end: int) -> Hunk:
    old_start, old_count, new_start, new_count = _parse_hunk_header(lines[start], start + 1)
    body: list[str] = []
    for line in lines[start + 1 : end]:
        if line.startswith(_NO_NEWLINE_MARKER):
            if body:
                body[-1] = body[-1].removesuffix("\n")
        elif line in ("\n", ""):
            body.append(" \n")
        else:
            body.append(line)
    return Hunk(
        old_start=old_start, old_count=old_count, new_start=new_start, new_count=new_count,
        lines=body,
    )


def apply_hunks(old_text: str, hunks: list[Hunk]) -> str:
    """Replay hunks on a file's old text exactly (no fuzz, no offsets): the new text.

    Raises PatchApplyError when a hunk's old lines differ from the file's.
    """
    old_lines = _split_lines(old_text)
    out: list[str] = []
    done = 0  # old lines consumed so far
    for hunk in hunks:
        first = hunk.old_start - 1 if hunk.old_count else hunk.old_start
        expected = _split_lines(hunk.old_text)
        if first < done or old_lines[first : first + hunk.old_count] != expected:
            raise PatchApplyError(
                f"hunk @@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},"
                f"{hunk.new_count} @@ does not match the file at line {first + 1}"
            )
        out += old_lines[done:first]
        out.append(hunk.new_text)
        done = first + hunk.old_count
    out += old_lines[done:]
    return "".join(out)
