"""The mutation operators: the small slips each one proposes at one syntax node.

`mutations.py` walks the function bodies of a file and asks `edits` about every node; each
operator here looks at one kind of node (a comparison, a binary operator, an integer, a
condition, a call, a block, a return) and proposes replacements of a byte span. Operators only
propose: the walker decides what is in scope and keeps the mutants that compile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

OPERATORS: tuple[str, ...] = (
    "comparison_swap", "arithmetic_swap", "off_by_one", "drop_statement", "swap_arguments",
    "negate_condition", "change_constant", "wrong_return",
)

_COMPARISON_SWAPS: dict[str, tuple[str, ...]] = {
    "<": ("<=", ">"), "<=": ("<",), ">": (">=", "<"), ">=": (">",), "==": ("!=",),
    "!=": ("==",), "is": ("is not",), "is not": ("is",), "in": ("not in",), "not in": ("in",),
}
_ARITHMETIC_SWAPS: dict[str, tuple[str, ...]] = {
    "+": ("-",), "-": ("+",), "*": ("/",), "/": ("*", "//"), "//": ("/",), "%": ("//",),
}
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


@dataclass(frozen=True)
class Edit:
    operator: str
    start: int
    end: int
    replacement: str
    row: int  # 0-based


def edits(node: Node, raw: bytes) -> Iterator[Edit]:
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
def _comparison_swaps(node: Node) -> Iterator[Edit]:
    for index, child in enumerate(node.children):
        if node.field_name_for_child(index) == "operators":
            operator = " ".join(text_of(child).split())  # `is  not` is `is not`
            for swapped in _COMPARISON_SWAPS.get(operator, ()):
                yield _replace(child, "comparison_swap", swapped)
        elif _is_call_to(child, "len"):  # `i < len(xs)` -> `i < len(xs) - 1`
            yield from _plus_minus_one(child)


def _arithmetic_swaps(node: Node) -> Iterator[Edit]:
    operator = node.child_by_field_name("operator")
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    # With a string literal, `+ * %` are concatenation, repetition and formatting: swapping
    # them is an immediate TypeError, not a slip in arithmetic.
    if operator is None or left is None or right is None or {left.type, right.type} & _STRINGS:
        return
    symbol = text_of(operator)
    suffix = "=" if symbol.endswith("=") else ""  # `+=` -> `-=`
    for swapped in _ARITHMETIC_SWAPS.get(symbol.removesuffix("="), ()):
        yield _replace(operator, "arithmetic_swap", swapped + suffix)


def _integer_edits(node: Node) -> Iterator[Edit]:
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
        value = int(text_of(node).replace("_", ""), 0)
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
        if text_of(parent.child_by_field_name("operator")) in ("+", "-"):
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


def _negations(node: Node) -> Iterator[Edit]:
    if node.type == "conditional_expression":  # `a if c else b`: no fields; c follows `if`
        named = _named(node)
        condition = named[1] if len(named) == 3 else None
    else:
        condition = node.child_by_field_name("condition")
    if condition is None or condition.type in _FLIPPED:  # `while True`: change_constant's
        return
    text = text_of(condition)
    if condition.type == "not_operator":
        replacement = text_of(condition.child_by_field_name("argument"))
    elif condition.type == "parenthesized_expression":
        replacement = f"not {text}"
    else:
        replacement = f"not ({text})"
    yield _replace(condition, "negate_condition", replacement)


def _swapped_arguments(node: Node, raw: bytes) -> Iterator[Edit]:
    args = _arguments(node)
    function = text_of(node.child_by_field_name("function")).rpartition(".")[2]
    if len(args) < 2 or {args[0].type, args[1].type} & _UNPACKING or function in _SYMMETRIC:
        return
    first, second = text_of(args[0]), text_of(args[1])
    if first != second:
        between = raw[args[0].end_byte : args[1].start_byte].decode("utf-8")  # `, ` or more
        yield Edit("swap_arguments", args[0].start_byte, args[1].end_byte,
                    second + between + first, args[0].start_point[0])


def _range_stop(node: Node) -> Iterator[Edit]:
    """`range(n)` -> `range(n + 1)`; a literal stop is already an integer bound."""
    args = _arguments(node)
    if not _is_call_to(node, "range") or not 1 <= len(args) <= 3:
        return
    stop = args[0] if len(args) == 1 else args[1]
    unsigned = stop.children[-1] if stop.type == "unary_operator" else stop
    if stop.type not in _UNPACKING and unsigned.type != "integer":
        yield from _plus_minus_one(stop)


def _plus_minus_one(expression: Node) -> Iterator[Edit]:
    text = text_of(expression)
    if expression.type not in _ATOMS:
        text = f"({text})"
    for delta in (" + 1", " - 1"):
        yield _replace(expression, "off_by_one", text + delta)


def _dropped_statements(block: Node, raw: bytes) -> Iterator[Edit]:
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
        yield Edit("drop_statement", start, end, "", statement.start_point[0])


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


def _wrong_returns(node: Node) -> Iterator[Edit]:
    values = _named(node)
    if not values or values[0].type == "none":
        return
    if values[0].type in ("true", "false"):  # a predicate: the opposite answer
        yield _replace(values[0], "wrong_return", _FLIPPED[values[0].type])
    else:
        yield _replace(values[0], "wrong_return", "None")


# --- helpers ------------------------------------------------------------------------------
def _replace(node: Node, operator: str, replacement: str) -> Edit:
    return Edit(operator, node.start_byte, node.end_byte, replacement, node.start_point[0])


def text_of(node: Node | None) -> str:
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
    return function is not None and function.type == "identifier" and text_of(function) == name

