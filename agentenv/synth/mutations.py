"""Bug-injecting mutation operators for Python source, located with tree-sitter.

`agentenv tasks synth` injects one candidate at a time into a real package and keeps it if some
tests fail while the rest pass (the SWE-smith / R2E-Gym recipe); this module proposes them:
small, plausible slips inside function and method bodies. Module-level code, class bodies,
decorators, annotations, defaults, dictionary keys and strings are left alone: a change there
breaks the import wholesale or changes nothing. Every candidate compiles and differs from the
original; no input makes this raise (what cannot be parsed or compiled yields nothing).
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

__all__ = ["MAX_SOURCE_CHARS", "OPERATORS", "Mutation", "candidate_mutations", "sample_mutations"]

OPERATORS: tuple[str, ...] = (
    "comparison_swap", "arithmetic_swap", "off_by_one", "drop_statement", "swap_arguments",
    "negate_condition", "change_constant", "wrong_return",
)
MAX_SOURCE_CHARS = 1_000_000  # beyond this a file is generated or vendored, not a task

_COMPARISON_SWAPS: dict[str, tuple[str, ...]] = {
    "<": ("<=", ">"), "<=": ("<",), ">": (">=", "<"), ">=": (">",), "==": ("!=",),
    "!=": ("==",), "is": ("is not",), "is not": ("is",), "in": ("not in",), "not in": ("in",),
}
_ARITHMETIC_SWAPS: dict[str, tuple[str, ...]] = {
    "+": ("-",), "-": ("+",), "*": ("/",), "/": ("*", "//"), "//": ("/",), "%": ("//",),
}
# Never entered: string literals are data (f-strings included), and decorators, annotations
# and parameter defaults run at definition time, not when the function is called.
_OPAQUE = frozenset({"string", "concatenated_string", "decorator", "type", "comment",
                     "parameters", "lambda_parameters", "type_parameter"})
# Removable statements. `pass`, docstrings and bare names are no-ops (equivalent mutants);
# dropping `return`/`raise` changes control flow wholesale rather than slipping.
_DROPPABLE = frozenset({"assignment", "augmented_assignment", "call", "await", "delete_statement"})
# Expressions that bind tighter than `+`, so `expr + 1` needs no parentheses.
_ATOMS = frozenset({"identifier", "call", "attribute", "subscript", "parenthesized_expression",
                    "integer", "float", "list", "tuple", "dictionary", "set"})
_TRANSPARENT = frozenset({"binary_operator", "unary_operator", "parenthesized_expression"})
_STRINGS = frozenset({"string", "concatenated_string"})
_FLIPPED = {"true": "False", "false": "True"}
_UNPACKING = frozenset({"keyword_argument", "list_splat", "dictionary_splat"})
# Symmetric in their first two arguments: swapping them is an equivalent mutant.
_SYMMETRIC = frozenset({"min", "max", "gcd", "lcm", "hypot", "isclose"})
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


@dataclass(frozen=True)
class _Edit:
    operator: str
    start: int
    end: int
    replacement: str
    row: int  # 0-based


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
        for edit in _edits(node, raw):
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
        qualname = scope.prefix + _text_of(node.child_by_field_name("name"))
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


def _edits(node: Node, raw: bytes) -> Iterator[_Edit]:
    kind = node.type
    if kind == "comparison_operator":
        yield from _comparison_swaps(node)
    elif kind in ("binary_operator", "augmented_assignment"):
        yield from _arithmetic_swaps(node)
    elif kind == "integer":
        yield from _integer_edits(node)
    elif kind in ("true", "false") and node.parent and node.parent.type != "return_statement":
        yield _replace(node, "change_constant", _FLIPPED[kind])  # `return True`: wrong_return
    elif kind in ("if_statement", "elif_clause", "while_statement", "conditional_expression"):
        yield from _negations(node)
    elif kind == "call":
        yield from _swapped_arguments(node, raw)
        yield from _range_stop(node)
    elif kind == "block":
        yield from _dropped_statements(node, raw)
    elif kind == "return_statement":
        yield from _wrong_returns(node)


# --- operators ----------------------------------------------------------------------------
def _comparison_swaps(node: Node) -> Iterator[_Edit]:
    for index, child in enumerate(node.children):
        if node.field_name_for_child(index) == "operators":
            operator = " ".join(_text_of(child).split())  # `is  not` is `is not`
            for swapped in _COMPARISON_SWAPS.get(operator, ()):
                yield _replace(child, "comparison_swap", swapped)
        elif _is_call_to(child, "len"):  # `i < len(xs)` -> `i < len(xs) - 1`
            yield from _plus_minus_one(child)


def _arithmetic_swaps(node: Node) -> Iterator[_Edit]:
    operator = node.child_by_field_name("operator")
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    # With a string literal, `+ * %` are concatenation, repetition and formatting: swapping
    # them is an immediate TypeError, not a slip in arithmetic.
    if operator is None or left is None or right is None or {left.type, right.type} & _STRINGS:
        return
    symbol = _text_of(operator)
    suffix = "=" if symbol.endswith("=") else ""  # `+=` -> `-=`
    for swapped in _ARITHMETIC_SWAPS.get(symbol.removesuffix("="), ()):
        yield _replace(operator, "arithmetic_swap", swapped + suffix)


def _integer_edits(node: Node) -> Iterator[_Edit]:
    literal, value = _signed_literal(node)
    if value is None:
        return
    if not _is_bound(literal):
        yield _replace(literal, "change_constant", str(value + 1))
        return
    yield _replace(literal, "off_by_one", str(value + 1))
    if value != 0:  # a non-negative bound never turns negative
        yield _replace(literal, "off_by_one", str(value - 1))


def _signed_literal(node: Node) -> tuple[Node, int | None]:
    """The literal with its unary minus, if any, so `-1` becomes `-2` rather than `--2`."""
    try:
        value = int(_text_of(node).replace("_", ""), 0)
    except ValueError:  # `1j`, a Python 2 `0777`, a 5000-digit number
        return node, None
    parent = node.parent
    if parent is not None and parent.type == "unary_operator" and parent.children[0].type == "-":
        return parent, -value
    return node, value


def _is_bound(literal: Node) -> bool:
    """Is the integer a bound or an index adjustment: `x + 1`, `len(xs) - 1`, a comparison
    operand, an index or slice bound, or an argument of `range(...)`?"""
    child, parent = literal, literal.parent
    while parent is not None and parent.type == "parenthesized_expression":
        child, parent = parent, parent.parent
    if parent is not None and parent.type == "binary_operator":
        if _text_of(parent.child_by_field_name("operator")) in ("+", "-"):
            return True
    while parent is not None and parent.type in _TRANSPARENT:
        child, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type in ("comparison_operator", "slice"):
        return True
    if parent.type == "subscript":
        return child != parent.child_by_field_name("value")
    return parent.type == "argument_list" and _is_call_to(parent.parent, "range")


def _negations(node: Node) -> Iterator[_Edit]:
    if node.type == "conditional_expression":  # `a if c else b`: no fields; c follows `if`
        named = _named(node)
        condition = named[1] if len(named) == 3 else None
    else:
        condition = node.child_by_field_name("condition")
    if condition is None or condition.type in _FLIPPED:  # `while True`: change_constant's
        return
    text = _text_of(condition)
    if condition.type == "not_operator":
        replacement = _text_of(condition.child_by_field_name("argument"))
    elif condition.type == "parenthesized_expression":
        replacement = f"not {text}"
    else:
        replacement = f"not ({text})"
    yield _replace(condition, "negate_condition", replacement)


def _swapped_arguments(node: Node, raw: bytes) -> Iterator[_Edit]:
    args = _arguments(node)
    function = _text_of(node.child_by_field_name("function")).rpartition(".")[2]
    if len(args) < 2 or {args[0].type, args[1].type} & _UNPACKING or function in _SYMMETRIC:
        return
    first, second = _text_of(args[0]), _text_of(args[1])
    if first != second:
        between = raw[args[0].end_byte : args[1].start_byte].decode("utf-8")  # `, ` or more
        yield _Edit("swap_arguments", args[0].start_byte, args[1].end_byte,
                    second + between + first, args[0].start_point[0])


def _range_stop(node: Node) -> Iterator[_Edit]:
    """`range(n)` -> `range(n + 1)`; a literal stop is already an integer bound."""
    args = _arguments(node)
    if not _is_call_to(node, "range") or not 1 <= len(args) <= 3:
        return
    stop = args[0] if len(args) == 1 else args[1]
    unsigned = stop.children[-1] if stop.type == "unary_operator" else stop
    if stop.type not in _UNPACKING and unsigned.type != "integer":
        yield from _plus_minus_one(stop)


def _plus_minus_one(expression: Node) -> Iterator[_Edit]:
    text = _text_of(expression)
    if expression.type not in _ATOMS:
        text = f"({text})"
    for delta in (" + 1", " - 1"):
        yield _replace(expression, "off_by_one", text + delta)


def _dropped_statements(block: Node, raw: bytes) -> Iterator[_Edit]:
    statements = _named(block)
    if len(statements) < 2:  # the block must keep a statement; `pass` instead is no bug
        return
    for statement in statements:
        if statement.type == "expression_statement" and statement.named_child_count == 1:
            statement = statement.named_children[0]  # grammar versions that wrap expressions
        if statement.type not in _DROPPABLE:
            continue
        if statement.type == "assignment" and statement.child_by_field_name("right") is None:
            continue  # a bare annotation `x: int` does nothing at run time
        start, end = _whole_lines(raw, statement)
        yield _Edit("drop_statement", start, end, "", statement.start_point[0])


def _whole_lines(raw: bytes, node: Node) -> tuple[int, int]:
    """The statement's lines with indentation, newline and trailing comment, so the diff
    removes lines rather than blanking them; only the statement if it shares a line."""
    line_start = raw.rfind(b"\n", 0, node.start_byte) + 1
    newline = raw.find(b"\n", node.end_byte)
    line_end = len(raw) if newline < 0 else newline + 1
    after = raw[node.end_byte : line_end].strip()
    if raw[line_start : node.start_byte].strip(b" \t") or after[:1] not in (b"", b"#"):
        return node.start_byte, node.end_byte
    return line_start, line_end


def _wrong_returns(node: Node) -> Iterator[_Edit]:
    values = _named(node)
    if not values or values[0].type == "none":
        return
    if values[0].type in ("true", "false"):  # a predicate: the opposite answer
        yield _replace(values[0], "wrong_return", _FLIPPED[values[0].type])
    else:
        yield _replace(values[0], "wrong_return", "None")


# --- helpers ------------------------------------------------------------------------------
def _replace(node: Node, operator: str, replacement: str) -> _Edit:
    return _Edit(operator, node.start_byte, node.end_byte, replacement, node.start_point[0])


def _text_of(node: Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8")


def _arguments(call: Node) -> list[Node]:
    """Positional and keyword arguments; none for `f(x for x in xs)`."""
    arguments = call.child_by_field_name("arguments")
    if arguments is None or arguments.type != "argument_list":
        return []
    return _named(arguments)


def _named(node: Node) -> list[Node]:
    """Named children, without comments and line continuations."""
    return [child for child in node.named_children if not child.is_extra]


def _is_call_to(node: Node | None, name: str) -> bool:
    function = node.child_by_field_name("function") if node and node.type == "call" else None
    return function is not None and function.type == "identifier" and _text_of(function) == name


class _Checker:
    """Does a mutant compile? Only the outermost function around the edit is compiled (under
    `if 1:` when indented, as methods are): a function compiles the same wherever it stands,
    given the file's `__future__` flags, and recompiling a 4000-line class per candidate
    would take minutes. The whole file is compiled when that shortcut cannot be trusted."""

    def __init__(self, path: str, raw: bytes, flags: int, whole_file: bool) -> None:
        self._path, self._raw, self._flags, self._whole_file = path, raw, flags, whole_file
        self._units: dict[int, tuple[int, int, bytes]] = {}

    def ok(self, unit: Node, edit: _Edit) -> bool:
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
