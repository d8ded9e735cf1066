"""Candidate bugs for Python source: where mutations may go, and a fair sample of them.

`agentenv tasks synth` injects one candidate at a time into a real package and keeps it if some
tests fail while the rest pass (the SWE-smith / R2E-Gym recipe); this module proposes them:
small, plausible slips (`operators.py`) inside function and method bodies, found with
tree-sitter. Module-level code, class bodies, decorators, annotations, defaults, dictionary
keys and strings are left alone: a change there breaks the import wholesale or changes
nothing. Every candidate compiles and differs from the original; no input makes this raise
(what cannot be parsed or compiled yields nothing).
"""

from __future__ import annotations

import __future__
import random
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import CodeType

from pydantic import BaseModel, ConfigDict, Field
from tree_sitter import Node, Parser
from tree_sitter_language_pack import get_parser

from agentenv.synth.operators import OPERATORS, Edit, edits, text_of

__all__ = ["MAX_SOURCE_CHARS", "OPERATORS", "Mutation", "candidate_mutations", "sample_mutations"]

MAX_SOURCE_CHARS = 1_000_000  # beyond this a file is generated or vendored, not a task

# Never entered: string literals are data (f-strings included), and decorators, annotations
# and parameter defaults run at definition time, not when the function is called.
_OPAQUE = frozenset({"string", "concatenated_string", "decorator", "type", "comment",
                     "parameters", "lambda_parameters", "type_parameter"})
_FUTURE_FLAGS = sum(getattr(__future__, f).compiler_flag for f in __future__.all_feature_names)


class Mutation(BaseModel):
    """One candidate bug: the UTF-8 byte span `start_byte..end_byte` of `path` replaced."""

    model_config = ConfigDict(frozen=True)

    operator: str
    path: str
    start_byte: int = Field(ge=0)
    end_byte: int = Field(ge=0)
    replacement: str
    line: int = Field(ge=1)
    function: str | None  # "Class.method", "outer.inner"
    original: str

    def apply(self, source: str) -> str:
        """The mutated `source`; ValueError if `source` is not the text this was made for."""
        raw = source.encode("utf-8", "surrogatepass")
        if raw[self.start_byte : self.end_byte] != self.original.encode("utf-8"):
            raise ValueError(f"{self.path}:{self.line}: the source differs from the original")
        new = raw[: self.start_byte] + self.replacement.encode("utf-8") + raw[self.end_byte :]
        return new.decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class _Scope:
    prefix: str  # qualified-name prefix of definitions met inside
    function: str | None
    in_body: bool  # runs when a function is called: the only code we mutate
    unit: Node | None = None  # the outermost enclosing function, compiled to check mutants




def candidate_mutations(
    path: str, source: str, *, operators: Iterable[str] = OPERATORS
) -> list[Mutation]:
    """Every applicable mutation of `source`, in source order; deterministic. Raises only
    ValueError for an unknown operator name (a caller's bug); any text yields a list."""
    wanted = frozenset(operators)
    if unknown := wanted - set(OPERATORS):
        raise ValueError(f"unknown mutation operators: {sorted(unknown)}")
    try:
        return _candidates(path, source, wanted)
    except Exception:  # RecursionError, MemoryError, a parser surprise: no candidates
        return []


def sample_mutations(candidates: list[Mutation], n: int, seed: int) -> list[Mutation]:
    """Up to `n` candidates, no two overlapping in one file. Operators take turns, in a seeded
    order; within an operator the picks rotate over (file, function), so one long function
    cannot supply every bug. Same candidates and seed, same sample."""
    rng = random.Random(seed)
    by_operator: dict[str, list[Mutation]] = defaultdict(list)
    for candidate in candidates:
        by_operator[candidate.operator].append(candidate)
    queues = [_spread(by_operator[operator], rng) for operator in sorted(by_operator)]
    rng.shuffle(queues)
    picked: list[Mutation] = []
    while len(picked) < n and any(queues):
        for queue in queues:
            while queue and len(picked) < n:
                candidate = queue.pop()
                if not any(_overlaps(candidate, other) for other in picked):
                    picked.append(candidate)
                    break
    return picked


def _spread(candidates: list[Mutation], rng: random.Random) -> list[Mutation]:
    """A stack (popped from the end) that visits every (file, function) once before any twice."""
    by_place: dict[tuple[str, str], list[Mutation]] = defaultdict(list)
    for candidate in candidates:
        by_place[(candidate.path, candidate.function or "")].append(candidate)
    places = [by_place[key] for key in sorted(by_place)]
    for group in places:
        rng.shuffle(group)
    rng.shuffle(places)
    order = [group[i] for i in range(max(map(len, places))) for group in places if i < len(group)]
    return order[::-1]


def _overlaps(a: Mutation, b: Mutation) -> bool:
    same = (a.start_byte, a.end_byte) == (b.start_byte, b.end_byte)
    crossing = a.start_byte < b.end_byte and b.start_byte < a.end_byte
    return a.path == b.path and (same or crossing)


# --- finding candidates -------------------------------------------------------------------
def _candidates(path: str, source: str, wanted: frozenset[str]) -> list[Mutation]:
    if len(source) > MAX_SOURCE_CHARS or "\0" in source:
        return []
    raw = source.encode("utf-8")  # a lone surrogate raises: caught above, no candidates
    code = _compile(source, path, 0)
    if code is None:  # a mutant of a file that does not compile cannot be judged
        return []
    root = _parser().parse(raw).root_node
    # A grammar gap (tree-sitter lagging CPython) or a lone carriage return could misplace a
    # function's boundaries: then each mutant is judged by compiling the whole file.
    whole_file = root.has_error or "\r" in source.replace("\r\n", "")
    checker = _Checker(path, raw, code.co_flags & _FUTURE_FLAGS, whole_file)
    found: dict[tuple[int, int, str], Mutation] = {}
    for node, scope in _walk(root):
        if scope.unit is None or not scope.in_body:
            continue
        for edit in edits(node, raw):
            key = (edit.start, edit.end, edit.replacement)
            if edit.operator in wanted and key not in found and checker.ok(scope.unit, edit):
                found[key] = Mutation(
                    operator=edit.operator, path=path, start_byte=edit.start, end_byte=edit.end,
                    replacement=edit.replacement, line=edit.row + 1, function=scope.function,
                    original=raw[edit.start : edit.end].decode("utf-8"))
    return sorted(found.values(), key=lambda m: (m.start_byte, m.end_byte))


_parsers = threading.local()  # a Parser is not thread-safe; synth may scan files in threads


def _parser() -> Parser:
    if not hasattr(_parsers, "python"):
        _parsers.python = get_parser("python")
    return _parsers.python  # type: ignore[no-any-return]


def _walk(root: Node) -> Iterator[tuple[Node, _Scope]]:
    """Pre-order, without recursion: deeply nested code is legal input."""
    stack: list[tuple[Node, _Scope]] = [(root, _Scope("", None, False))]
    while stack:
        node, scope = stack.pop()
        yield node, scope
        stack.extend(reversed(list(_children(node, scope))))


def _children(node: Node, scope: _Scope) -> Iterator[tuple[Node, _Scope]]:
    if node.type in _OPAQUE:
        return
    if node.type in ("function_definition", "class_definition"):
        body = node.child_by_field_name("body")
        qualname = scope.prefix + text_of(node.child_by_field_name("name"))
        if node.type == "function_definition":
            inner = _Scope(qualname + ".", qualname, True, scope.unit or node)
        else:  # a class body runs once, at definition; only its methods are function code
            inner = _Scope(qualname + ".", scope.function, False, scope.unit)
        if body is not None:
            yield body, inner
        return
    for index, child in enumerate(node.children):
        if node.type != "pair" or node.field_name_for_child(index) != "key":  # keys are data
            yield child, scope



class _Checker:
    """Does a mutant compile? Only the outermost function around the edit is compiled (under
    `if 1:` when indented, as methods are): a function compiles the same wherever it stands,
    given the file's `__future__` flags, and recompiling a 4000-line class per candidate
    would take minutes. The whole file is compiled when that shortcut cannot be trusted."""

    def __init__(self, path: str, raw: bytes, flags: int, whole_file: bool) -> None:
        self._path, self._raw, self._flags, self._whole_file = path, raw, flags, whole_file
        self._units: dict[int, tuple[int, int, bytes]] = {}

    def ok(self, unit: Node, edit: Edit) -> bool:
        start, end, header = self._unit(unit)
        chunk = self._raw[start:end]
        before, after = chunk[: edit.start - start], chunk[edit.end - start :]
        mutated = before + edit.replacement.encode() + after
        return mutated != chunk and self._compiles(header + mutated)

    def _unit(self, unit: Node) -> tuple[int, int, bytes]:
        if unit.start_byte not in self._units:
            line_start = self._raw.rfind(b"\n", 0, unit.start_byte) + 1
            indent = self._raw[line_start : unit.start_byte]
            header = b"if 1:\n" if indent else b""
            alone = not self._whole_file and not indent.strip(b" \t") and self._compiles(
                header + self._raw[line_start : unit.end_byte])
            whole = (0, len(self._raw), b"")
            self._units[unit.start_byte] = (line_start, unit.end_byte, header) if alone else whole
        return self._units[unit.start_byte]

    def _compiles(self, text: bytes) -> bool:
        return _compile(text.decode("utf-8"), self._path, self._flags) is not None


def _compile(text: str, path: str, flags: int) -> CodeType | None:
    """The code object, or None. SyntaxWarnings (`x is 1`) are not our business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return compile(text, path, "exec", flags=flags, dont_inherit=True)
        except Exception:  # SyntaxError, ValueError, RecursionError, MemoryError
            return None
