"""Bug-injecting mutations: exact mutants per operator, what is never touched, byte offsets,
compilability on real modules and arbitrary text, seeded sampling, and that mutants of real
functions really behave differently."""

from __future__ import annotations

import shlex
import sys
import textwrap
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentenv.synth.mutations import (
    OPERATORS,
    Mutation,
    candidate_mutations,
    sample_mutations,
)


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def mutants(source: str, operator: str) -> list[str]:
    """Every mutated source one operator proposes, in source order."""
    return [m.apply(source) for m in candidate_mutations("m.py", source, operators=[operator])]


def compiles(source: str) -> bool:
    try:
        compile(source, "m.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


# --- one operator at a time ---------------------------------------------------------------
def test_comparison_swap() -> None:
    source = code("""
        def find(items, key):
            for i, item in enumerate(items):
                if item is None or key not in item:
                    continue
                if i < 3 and item == key:
                    return i
    """)
    swapped = [
        ("item is None", "item is not None"),
        ("key not in item", "key in item"),
        ("i < 3", "i <= 3"),
        ("i < 3", "i > 3"),
        ("item == key", "item != key"),
    ]
    assert mutants(source, "comparison_swap") == [source.replace(a, b) for a, b in swapped]


def test_comparison_swap_covers_each_operator_of_a_chain() -> None:
    source = "def between(x, lo, hi):\n    return lo <= x >= hi\n"
    assert mutants(source, "comparison_swap") == [
        "def between(x, lo, hi):\n    return lo < x >= hi\n",
        "def between(x, lo, hi):\n    return lo <= x > hi\n",
    ]


def test_arithmetic_swap() -> None:
    source = code("""
        def mean(xs):
            total = 0
            for x in xs:
                total += x * 2
            return total / len(xs) % 7
    """)
    assert mutants(source, "arithmetic_swap") == [
        source.replace("total += x", "total -= x"),
        source.replace("x * 2", "x / 2"),
        source.replace("total / len", "total * len"),
        source.replace("total / len", "total // len"),
        source.replace("% 7", "// 7"),
    ]


def test_arithmetic_swap_leaves_string_concatenation_and_formatting_alone() -> None:
    source = code("""
        def label(name, n):
            title = "Mr " + "X"
            line = "-" * n
            return "%s: %d" % (name, n) + name
    """)
    assert mutants(source, "arithmetic_swap") == [
        source.replace(") + name", ") - name"),  # the `+` between a formatting and a name
    ]


def test_off_by_one_on_literal_bounds() -> None:
    source = code("""
        def window(xs, n):
            if n == 0:
                return xs[1:]
            return [xs[i - 1] for i in range(2, n)]
    """)
    assert mutants(source, "off_by_one") == [
        source.replace("n == 0", "n == 1"),  # 0 never becomes -1
        source.replace("xs[1:]", "xs[2:]"),
        source.replace("xs[1:]", "xs[0:]"),
        source.replace("i - 1", "i - 2"),
        source.replace("i - 1", "i - 0"),
        source.replace("range(2, n)", "range(3, n)"),
        source.replace("range(2, n)", "range(1, n)"),
        source.replace("range(2, n)", "range(2, n + 1)"),
        source.replace("range(2, n)", "range(2, n - 1)"),
    ]


def test_off_by_one_on_computed_bounds_and_negative_indices() -> None:
    source = code("""
        def last_pairs(xs):
            for i in range(len(xs) // 2):
                yield xs[-1], i
    """)
    assert mutants(source, "off_by_one") == [
        source.replace("range(len(xs) // 2)", "range((len(xs) // 2) + 1)"),
        source.replace("range(len(xs) // 2)", "range((len(xs) // 2) - 1)"),
        source.replace("// 2", "// 3"),  # a literal anywhere inside range(...) is a bound
        source.replace("// 2", "// 1"),
        source.replace("xs[-1]", "xs[0]"),
        source.replace("xs[-1]", "xs[-2]"),
    ]


def test_off_by_one_on_len_in_a_comparison() -> None:
    source = "def full(xs, cap):\n    return cap >= len(xs)\n"
    assert mutants(source, "off_by_one") == [
        "def full(xs, cap):\n    return cap >= len(xs) + 1\n",
        "def full(xs, cap):\n    return cap >= len(xs) - 1\n",
    ]


def test_drop_statement_removes_whole_lines() -> None:
    source = code("""
        def update(cache, key, value):
            \"\"\"Store value.\"\"\"
            cache[key] = value  # the write
            cache.touch(key)
            if value:
                del cache[key]
            return cache
    """)
    assert mutants(source, "drop_statement") == [
        source.replace("    cache[key] = value  # the write\n", ""),
        source.replace("    cache.touch(key)\n", ""),
        # `del` alone in its block and the docstring are never dropped
    ]


def test_drop_statement_on_a_shared_line() -> None:
    source = "def f(a):\n    a.x(); a.y()\n    return a\n"
    # Dropping `a.x()` would leave `; a.y()`, which does not compile.
    assert mutants(source, "drop_statement") == ["def f(a):\n    a.x(); \n    return a\n"]


def test_swap_arguments() -> None:
    source = code("""
        def split(a, b, parts):
            q, r = divmod(a, b)
            parts.insert(0,
                         q)
            same(a, a)
            kw(a, sep=b)
            star(*parts, a)
            return q, r
    """)
    assert mutants(source, "swap_arguments") == [
        source.replace("divmod(a, b)", "divmod(b, a)"),
        source.replace("insert(0,\n                 q)", "insert(q,\n                 0)"),
    ]


def test_negate_condition() -> None:
    source = code("""
        def step(x, done):
            while x > 0:
                if not done:
                    x -= 1
                elif (x % 2):
                    x //= 2
            return x if done else -x
    """)
    assert mutants(source, "negate_condition") == [
        source.replace("while x > 0", "while not (x > 0)"),
        source.replace("if not done", "if done"),
        source.replace("elif (x % 2)", "elif not (x % 2)"),
        source.replace("x if done else", "x if not (done) else"),
    ]


def test_change_constant() -> None:
    source = code("""
        def configure(opts):
            opts.retries = 3
            opts.verbose = True
            opts.name = "svc"
            opts.scale = 2.5
            return opts
    """)
    assert mutants(source, "change_constant") == [
        source.replace("= 3", "= 4"),
        source.replace("= True", "= False"),
    ]


def test_a_literal_condition_is_flipped_once() -> None:
    source = "def serve(q):\n    while True:\n        q.get()\n"
    assert mutants(source, "change_constant") == [source.replace("True", "False")]
    assert mutants(source, "negate_condition") == []  # the same bug again


def test_wrong_return() -> None:
    source = code("""
        def is_even(n):
            if n is None:
                return None
            if n % 2:
                return False
            return True

        def half(n):
            return n // 2
    """)
    assert mutants(source, "wrong_return") == [
        source.replace("return False", "return True"),
        source.replace("return True", "return False"),
        source.replace("return n // 2", "return None"),
    ]


# --- what is never mutated ----------------------------------------------------------------
def test_only_code_run_by_a_call_is_mutated() -> None:
    source = code("""
        \"\"\"Module docstring with 1 + 2.\"\"\"
        LIMIT = 10 + 1
        if LIMIT > 3:
            print(LIMIT, 2)

        @cache(maxsize=128 + 1)
        def scale(x: int = 1 + 1, *, flag: bool = True) -> list[int]:
            \"\"\"Scale x by 2.\"\"\"
            table = {1: "a", 2 + 3: "b"}
            label: str = f"{x + 1}"
            return table

        class Shape:
            sides = 4 - 1
            def area(self, k: int = 2) -> int:
                return self.sides * k
    """)
    found = {(m.operator, m.function, m.line, m.original, m.replacement)
             for m in candidate_mutations("m.py", source)}
    # Module level, class body, decorator, defaults, annotations, docstrings, dict keys and
    # f-strings yield nothing; only the two function bodies do.
    assert found == {
        ("drop_statement", "scale", 9, '    table = {1: "a", 2 + 3: "b"}\n', ""),
        ("drop_statement", "scale", 10, '    label: str = f"{x + 1}"\n', ""),
        ("wrong_return", "scale", 11, "table", "None"),
        ("arithmetic_swap", "Shape.area", 16, "*", "/"),
        ("wrong_return", "Shape.area", 16, "self.sides * k", "None"),
    }


def test_qualified_function_names() -> None:
    source = code("""
        class Outer:
            class Inner:
                def method(self):
                    return 1

        def outer():
            def inner():
                return 2
            return inner
    """)
    names = {(m.line, m.function) for m in candidate_mutations("m.py", source,
                                                                operators=["wrong_return"])}
    assert names == {(4, "Outer.Inner.method"), (8, "outer.inner"), (9, "outer")}


def test_nested_default_values_and_lambda_defaults_are_left_alone() -> None:
    source = code("""
        def make():
            def inner(x=1 + 2):
                return x
            return lambda y=3 * 4: y
    """)
    assert mutants(source, "arithmetic_swap") == []
    assert mutants(source, "change_constant") == []


# --- byte offsets and apply ---------------------------------------------------------------
def test_non_ascii_text_before_the_span() -> None:
    source = code("""
        def greet(name):
            prefix = "héllo ✓ 👋"  # naïve
            return prefix if name == "Zoë" else name
    """)
    [swap] = candidate_mutations("m.py", source, operators=["comparison_swap"])
    assert swap.original == "=="
    assert source.encode()[swap.start_byte : swap.end_byte] == b"=="
    assert source.index("==") < swap.start_byte  # bytes, not characters
    assert swap.apply(source) == source.replace("==", "!=")
    assert swap.line == 3


def test_apply_refuses_a_different_source() -> None:
    source = "def f(a, b):\n    return a < b\n"
    [swap, *_] = candidate_mutations("m.py", source, operators=["comparison_swap"])
    with pytest.raises(ValueError, match="differs"):
        swap.apply(source.replace("a < b", "a + b"))


def test_mutation_is_frozen_and_operators_are_checked() -> None:
    [m, *_] = candidate_mutations("m.py", "def f(a):\n    return a + 1\n")
    with pytest.raises(ValueError):
        m.line = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown mutation operators"):
        candidate_mutations("m.py", "x = 1\n", operators=["delete_everything"])


def test_future_flags_are_honoured() -> None:
    # Under barry_as_FLUFL `!=` is a syntax error, so `==` must not be swapped to it, even
    # though only the method is compiled to check a mutant.
    source = code("""
        from __future__ import barry_as_FLUFL

        class C:
            def same(self, a, b):
                return a == b
    """)
    assert mutants(source, "comparison_swap") == []
    assert mutants(source, "wrong_return") == [source.replace("a == b", "None")]


def test_crlf_and_tabs() -> None:
    source = "class C:\r\n\tdef f(self, x):\r\n\t\tx.a()\r\n\t\treturn x\r\n"
    assert mutants(source, "drop_statement") == [
        "class C:\r\n\tdef f(self, x):\r\n\t\treturn x\r\n"
    ]


@pytest.mark.parametrize("source", [
    "", "def f(:\n", "\0\1\2", "def f():\n    return 1 +\n", "x = 1\n", "def f(\ud800): pass",
    "\n".join("    " * i + "if x:" for i in range(200)) + "\n" + "    " * 200 + "pass\n",
    "def f():\n    return " + "(" * 300 + "1" + ")" * 300 + "\n",
])
def test_junk_yields_nothing(source: str) -> None:
    assert candidate_mutations("m.py", source) == []


# --- real modules -------------------------------------------------------------------------
REAL_MODULES = [Path(module.__file__ or "") for module in (shlex, textwrap)]


@pytest.mark.parametrize("path", REAL_MODULES, ids=lambda p: p.name)
def test_every_candidate_of_a_real_module_compiles_and_differs(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    candidates = candidate_mutations(str(path), source)
    assert len(candidates) > 150
    assert set(Counter(m.operator for m in candidates)) == set(OPERATORS)
    assert candidates == candidate_mutations(str(path), source)  # deterministic
    assert [m.start_byte for m in candidates] == sorted(m.start_byte for m in candidates)
    for m in candidates:
        mutated = m.apply(source)
        assert mutated != source
        assert compiles(mutated), m
        assert m.function is not None


# --- sampling -----------------------------------------------------------------------------
def _pool() -> list[Mutation]:
    return [m for path in REAL_MODULES
            for m in candidate_mutations(str(path), path.read_text(encoding="utf-8"))]


def test_sample_is_seeded_spread_and_never_overlaps() -> None:
    pool = _pool()
    sample = sample_mutations(pool, 24, seed=7)
    assert len(sample) == 24
    assert sample == sample_mutations(pool, 24, seed=7)
    assert sample != sample_mutations(pool, 24, seed=8)
    assert set(Counter(m.operator for m in sample)) == set(OPERATORS)  # 3 rounds of 8
    assert len({(m.path, m.function) for m in sample}) >= 16
    assert len({m.path for m in sample}) == 2
    _assert_disjoint(sample)


def test_sample_takes_everything_it_can_without_overlap() -> None:
    source = "def f(a, b):\n    return a < b\n"
    pool = candidate_mutations("m.py", source)
    sample = sample_mutations(pool, 100, seed=0)
    _assert_disjoint(sample)
    # `a < b` (wrong_return) covers every other span, so it is picked alone or not at all.
    assert 1 <= len(sample) < len(pool)
    assert sample_mutations(pool, 0, seed=0) == []
    assert sample_mutations([], 5, seed=0) == []


def _assert_disjoint(sample: list[Mutation]) -> None:
    for i, a in enumerate(sample):
        for b in sample[i + 1 :]:
            if a.path == b.path:
                assert a.end_byte <= b.start_byte or b.end_byte <= a.start_byte, (a, b)


# --- arbitrary input ----------------------------------------------------------------------
SIMPLE = [
    "x = a[1:-1]", "y += len(b) - 1", "return x if y else None", "return True", "del d[0]",
    "f(a, b, *c)", "z = 'é' + \"%s\" % q", "t = {1: 2, 'k': v}", "s = f'{n + 1}'", "yield 0",
    "lambda k=1: k", "n //= 2 * (i - 1) % 3", "assert a <= b, 'ok'", "pass",
    "return", "print(x, y, sep='')  # ✓", "x, y = y, x", "raise E(a, b)",
]
HEADERS = [
    "if not c:", "while i < n:", "for i in range(n):", "with m() as w:", "def inner(p=2):",
    "if a is None and b in c:", "async def g():", "elif x > 0:",
]
# Mostly invalid where they land: the file, or some mutants, must then fail to compile.
JUNK = ["else:", "except E:", "try:", "class K:", "global x", "await h(1, 2)", "@dec(3)",
        "\\", "(", ")", "", "# c", "\t"]


@st.composite
def python_like(draw: st.DrawFn) -> str:
    """A function of plausible lines, nested correctly by construction, with the odd junk
    line or stray indentation to stress the parsers' disagreements."""
    lines, depth = ["def top(a, b, c, n, x, y, q, v):"], 1
    for _ in range(draw(st.integers(1, 14))):
        roll = draw(st.integers(0, 9))
        kind = JUNK if roll == 0 else HEADERS if roll < 4 else SIMPLE
        line = draw(st.sampled_from(kind))
        lines.append("    " * depth + line)
        if line.endswith(":"):
            depth += 1
        else:
            depth = draw(st.integers(1, depth))
    if lines[-1].endswith(":"):
        lines.append("    " * depth + "pass")
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines) + "\n"


def _check_arbitrary(text: str) -> None:
    for m in candidate_mutations("m.py", text):
        mutated = m.apply(text)
        assert mutated != text
        assert compiles(mutated), m


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(python_like())
def test_python_like_text_never_raises_and_mutants_compile(text: str) -> None:
    _check_arbitrary(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    _check_arbitrary(text)


# --- mutants change behaviour -------------------------------------------------------------
BINARY_SEARCH = code("""
    def search(items, target):
        lo, hi = 0, len(items) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if items[mid] == target:
                return mid
            elif items[mid] < target:
                lo = mid + 1
            else:
                hi = mid - 1
        return -1
""")
CLAMP = code("""
    def clamp(x, lo, hi):
        if lo > hi:
            lo, hi = hi, lo
        return max(lo, min(x, hi))
""")


class _StepLimit(Exception):
    """A mutant such as `lo = mid + 0` loops forever; a bounded run reports it."""


def _run(source: str, name: str, args: tuple[Any, ...], max_lines: int = 10_000) -> object:
    namespace: dict[str, Any] = {}
    exec(compile(source, "m.py", "exec"), namespace)
    steps = 0

    def trace(frame: FrameType, event: str, arg: object) -> object:
        nonlocal steps
        steps += event == "line"
        if steps > max_lines:
            raise _StepLimit
        return trace

    sys.settrace(trace)
    try:
        return namespace[name](*args)
    except Exception as exc:  # a crash, or the step limit, is a behaviour too
        return type(exc).__name__
    finally:
        sys.settrace(None)


def _killed(source: str, name: str, inputs: list[tuple[Any, ...]]) -> tuple[int, int]:
    expected = [_run(source, name, args) for args in inputs]
    candidates = candidate_mutations("m.py", source)
    killed = sum(
        any(_run(m.apply(source), name, args) != want for args, want in zip(inputs, expected))
        for m in candidates
    )
    return killed, len(candidates)


def test_binary_search_mutants_change_behaviour() -> None:
    items = [1, 3, 5, 7, 9, 11]
    inputs = [(items, t) for t in range(13)] + [([], 1), ([4], 4)]
    killed, total = _killed(BINARY_SEARCH, "search", inputs)
    assert total >= 20
    assert killed / total >= 0.8  # a few mutants are equivalent


def test_clamp_mutants_change_behaviour() -> None:
    inputs = [(x, lo, hi) for x in range(-2, 8) for lo, hi in [(0, 5), (5, 0), (2, 2)]]
    killed, total = _killed(CLAMP, "clamp", inputs)
    # `lo >= hi` is the one equivalent mutant (swapping equal bounds changes nothing); the
    # symmetric `max(lo, ...)` and `min(x, hi)` are never offered for swapping.
    assert (killed, total) == (3, 4)


def test_a_specific_mutant_breaks_binary_search() -> None:
    [strict] = [m for m in candidate_mutations("m.py", BINARY_SEARCH)
                if m.operator == "comparison_swap" and m.replacement == "<" and m.original == "<="]
    mutated = strict.apply(BINARY_SEARCH)
    assert _run(BINARY_SEARCH, "search", ([1, 3, 5], 5)) == 2
    assert _run(mutated, "search", ([1, 3, 5], 5)) == -1
