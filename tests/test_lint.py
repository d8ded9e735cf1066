"""The lint guard on real parsers: every language, pre-existing vs introduced errors."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentenv.aci.lint import (
    EditSpan,
    LintIssue,
    format_issues,
    introduced_issues,
    language_for_path,
    lint,
)


@dataclass(frozen=True)
class Case:
    """A file as top-level blocks joined by blank lines, and ways to break or extend it."""

    path: str
    blocks: tuple[str, ...]  # header, then four declarations: A, B, C, D
    extra: str  # a valid declaration to insert
    error_in_b: tuple[str, str]  # (exact line in block B, the same line broken)
    error_in_a: tuple[str, str]
    error_in_d: tuple[str, str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.blocks) + "\n"


CASES = [
    Case(
        path="pkg/shapes.py",
        blocks=(
            "import math\nimport os\nfrom dataclasses import dataclass\n\nSCALE = 2",
            "def circle_area(radius: float) -> float:\n"
            "    if radius < 0:\n"
            "        raise ValueError(f\"negative radius: {radius}\")\n"
            "    return math.pi * radius ** 2",
            "def total_area(radii: list[float]) -> float:\n"
            "    total = 0.0\n"
            "    for r in radii:\n"
            "        total += circle_area(r) * SCALE\n"
            "    return total",
            "@dataclass\nclass Box:\n    width: float\n    height: float\n\n"
            "    def area(self) -> float:\n        return self.width * self.height",
            "def describe(box: Box) -> str:\n"
            "    kind = 'square' if box.width == box.height else 'box'\n"
            "    return f\"{kind} of area {box.area():.2f}\"",
        ),
        extra="def perimeter(box: Box) -> float:\n    return 2 * (box.width + box.height)",
        error_in_b=("    total = 0.0", "    total = = 0.0"),
        error_in_a=("    if radius < 0:", "    if radius < 0"),
        error_in_d=(
            "    kind = 'square' if box.width == box.height else 'box'",
            "    kind = ('square' if box.width == box.height else 'box'",
        ),
    ),
    Case(
        path="src/cart.js",
        blocks=(
            "import { formatPrice } from './format.js';\n\nconst TAX_RATE = 0.2;",
            "export function subtotal(items) {\n"
            "  return items.reduce((sum, item) => sum + item.price * item.qty, 0);\n"
            "}",
            "export function total(items) {\n"
            "  const base = subtotal(items);\n"
            "  const tax = base * TAX_RATE;\n"
            "  return base + tax;\n"
            "}",
            "export class Cart {\n  constructor() {\n    this.items = [];\n  }\n\n"
            "  add(item) {\n    this.items.push(item);\n    return this;\n  }\n}",
            "export function receipt(cart) {\n"
            "  const lines = cart.items.map((i) => `${i.name}: ${formatPrice(i.price)}`);\n"
            "  return lines.join('\\n');\n"
            "}",
        ),
        extra="export function isEmpty(cart) {\n  return cart.items.length === 0;\n}",
        error_in_b=("  const tax = base * TAX_RATE;", "  const tax = base * ;"),
        error_in_a=(
            "  return items.reduce((sum, item) => sum + item.price * item.qty, 0);",
            "  return items.reduce((sum, item) => sum + item.price * item.qty, 0;",
        ),
        error_in_d=("  return lines.join('\\n');", "  return lines.join('\\n') +;"),
    ),
    Case(
        path="src/cart.ts",
        blocks=(
            "import { formatPrice } from './format';\n\n"
            "export interface Item {\n  name: string;\n  price: number;\n  qty: number;\n}",
            "export function subtotal(items: Item[]): number {\n"
            "  return items.reduce((sum, item) => sum + item.price * item.qty, 0);\n"
            "}",
            "export function total(items: Item[], rate: number = 0.2): number {\n"
            "  const base: number = subtotal(items);\n"
            "  const tax: number = base * rate;\n"
            "  return base + tax;\n"
            "}",
            "export class Cart<T extends Item> {\n  private items: T[] = [];\n\n"
            "  add(item: T): this {\n    this.items.push(item);\n    return this;\n  }\n}",
            "export function receipt(items: readonly Item[]): string {\n"
            "  const lines = items.map((i) => `${i.name}: ${formatPrice(i.price)}`);\n"
            "  return lines.join('\\n');\n"
            "}",
        ),
        extra="export type Totals = { subtotal: number; total: number };",
        error_in_b=("  const tax: number = base * rate;", "  const tax: number = base * ;"),
        error_in_a=(
            "  return items.reduce((sum, item) => sum + item.price * item.qty, 0);",
            "  return items.reduce((sum, item) => sum + item.price * item.qty, 0;",
        ),
        error_in_d=("  return lines.join('\\n');", "  return lines.join('\\n') +;"),
    ),
    Case(
        path="src/Badge.tsx",
        blocks=(
            "import React from 'react';\n\n"
            "type Props = { label: string; count: number };",
            "export function Badge({ label, count }: Props) {\n"
            "  return <span className=\"badge\">{label}: {count}</span>;\n"
            "}",
            "export function BadgeList({ items }: { items: Props[] }) {\n"
            "  const visible = items.filter((i) => i.count > 0);\n"
            "  return <ul>{visible.map((i) => <li key={i.label}><Badge {...i} /></li>)}</ul>;\n"
            "}",
            "export const Empty = () => <p>No badges</p>;",
            "export function total(items: Props[]): number {\n"
            "  const counts = items.map((i) => i.count);\n"
            "  return counts.reduce((a, b) => a + b, 0);\n"
            "}",
        ),
        extra="export const Title = ({ text }: { text: string }) => <h1>{text}</h1>;",
        error_in_b=(
            "  const visible = items.filter((i) => i.count > 0);",
            "  const visible = items.filter((i) => i.count > );",
        ),
        error_in_a=(
            "  return <span className=\"badge\">{label}: {count}</span>;",
            "  return <span className=\"badge\">{label}: {count}</span>>;",
        ),
        error_in_d=(
            "  const counts = items.map((i) => i.count);",
            "  const counts = items.map((i) => i.count) *;",
        ),
    ),
    Case(
        path="cmd/stats.go",
        blocks=(
            "package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)",
            "func sum(xs []int) int {\n\ttotal := 0\n\tfor _, x := range xs {\n"
            "\t\ttotal += x\n\t}\n\treturn total\n}",
            "func mean(xs []int) float64 {\n\tif len(xs) == 0 {\n\t\treturn 0\n\t}\n"
            "\tn := float64(len(xs))\n\treturn float64(sum(xs)) / n\n}",
            "type Report struct {\n\tName  string\n\tCount int\n}",
            "func main() {\n\tr := Report{Name: strings.ToUpper(\"data\"), Count: 3}\n"
            "\tfmt.Println(r.Name, mean([]int{1, 2, 3}))\n}",
        ),
        extra="func max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}",
        error_in_b=("\tn := float64(len(xs))", "\tn := := float64(len(xs))"),
        error_in_a=("\t\ttotal += x", "\t\ttotal += "),
        error_in_d=(
            "\tfmt.Println(r.Name, mean([]int{1, 2, 3}))",
            "\tfmt.Println(r.Name, mean([]int{1, 2, 3})",
        ),
    ),
    Case(
        path="src/stats.rs",
        blocks=(
            "use std::collections::HashMap;",
            "pub fn sum(xs: &[i64]) -> i64 {\n    xs.iter().sum()\n}",
            "pub fn mean(xs: &[i64]) -> Option<f64> {\n    if xs.is_empty() {\n"
            "        return None;\n    }\n    let n = xs.len() as f64;\n"
            "    Some(sum(xs) as f64 / n)\n}",
            "#[derive(Debug, Clone)]\npub struct Report {\n    pub name: String,\n"
            "    pub counts: HashMap<String, usize>,\n}",
            "impl Report {\n    pub fn new(name: &str) -> Self {\n"
            "        let counts = HashMap::new();\n"
            "        Report { name: name.to_string(), counts }\n    }\n}",
        ),
        extra="pub fn max(a: i64, b: i64) -> i64 {\n    if a > b { a } else { b }\n}",
        error_in_b=("    let n = xs.len() as f64;", "    let n = xs.len() as ;"),
        error_in_a=("    xs.iter().sum()", "    xs.iter().sum("),
        error_in_d=("        let counts = HashMap::new();", "        let counts = HashMap::new(;"),
    ),
    Case(
        path="src/main/java/stats/Stats.java",
        blocks=(
            "package stats;\n\nimport java.util.List;",
            "class Sum {\n    static int of(List<Integer> xs) {\n        int total = 0;\n"
            "        for (int x : xs) {\n            total += x;\n        }\n"
            "        return total;\n    }\n}",
            "class Mean {\n    static double of(List<Integer> xs) {\n"
            "        if (xs.isEmpty()) {\n            return 0.0;\n        }\n"
            "        double n = xs.size();\n        return Sum.of(xs) / n;\n    }\n}",
            "record Report(String name, int count) {}",
            "public class Stats {\n    public static void main(String[] args) {\n"
            "        Report r = new Report(\"data\", 3);\n"
            "        System.out.println(r.name() + Mean.of(List.of(1, 2, 3)));\n    }\n}",
        ),
        extra="class Max {\n    static int of(int a, int b) {\n        return a > b ? a : b;\n    }\n}",
        error_in_b=("        double n = xs.size();", "        double n = xs.size()"),
        error_in_a=("            total += x;", "            total += ;"),
        error_in_d=(
            "        Report r = new Report(\"data\", 3);",
            "        Report r = new Report(\"data\", 3;",
        ),
    ),
    Case(
        path="src/stats.c",
        blocks=(
            "#include <stdio.h>\n#include <stddef.h>\n\n#define SCALE 2",
            "long sum(const int *xs, size_t n) {\n    long total = 0;\n"
            "    for (size_t i = 0; i < n; i++) {\n        total += xs[i];\n    }\n"
            "    return total;\n}",
            "double mean(const int *xs, size_t n) {\n    if (n == 0) {\n        return 0.0;\n"
            "    }\n    double count = (double)n;\n    return sum(xs, n) / count;\n}",
            "struct report {\n    const char *name;\n    int count;\n};",
            "int main(void) {\n    int xs[] = {1, 2, 3};\n"
            "    printf(\"%f\\n\", mean(xs, 3) * SCALE);\n    return 0;\n}",
        ),
        extra="static int max(int a, int b) {\n    return a > b ? a : b;\n}",
        error_in_b=("    double count = (double)n;", "    double count = (double)n"),
        error_in_a=("        total += xs[i];", "        total += ;"),
        error_in_d=("    int xs[] = {1, 2, 3};", "    int xs[] = {1, 2, 3}"),
    ),
    Case(
        path="src/stats.cpp",
        blocks=(
            "#include <numeric>\n#include <string>\n#include <vector>",
            "namespace stats {\nlong sum(const std::vector<int>& xs) {\n"
            "    return std::accumulate(xs.begin(), xs.end(), 0L);\n}\n}  // namespace stats",
            "double mean(const std::vector<int>& xs) {\n    if (xs.empty()) {\n"
            "        return 0.0;\n    }\n    auto n = static_cast<double>(xs.size());\n"
            "    return stats::sum(xs) / n;\n}",
            "class Report {\npublic:\n    explicit Report(std::string name) : name_(std::move(name)) {}\n"
            "    const std::string& name() const { return name_; }\n\nprivate:\n"
            "    std::string name_;\n};",
            "template <typename T>\nT clamp(T v, T lo, T hi) {\n"
            "    auto bounded = v < lo ? lo : v;\n    return bounded > hi ? hi : bounded;\n}",
        ),
        extra="int twice(int x) {\n    return 2 * x;\n}",
        error_in_b=(
            "    auto n = static_cast<double>(xs.size());",
            "    auto n = static_cast<double>(xs.size();",
        ),
        error_in_a=(
            "    return std::accumulate(xs.begin(), xs.end(), 0L);",
            "    return std::accumulate(xs.begin(), xs.end(), 0L)",
        ),
        error_in_d=("    auto bounded = v < lo ? lo : v;", "    auto bounded = v < lo ? lo ;"),
    ),
]
IDS = [language_for_path(c.path) or c.path for c in CASES]


# --- helpers --------------------------------------------------------------------------------


def line_of(text: str, line: str) -> int:
    lines = text.split("\n")
    assert lines.count(line) == 1, f"{line!r} must occur exactly once"
    return lines.index(line) + 1


def replace_line(text: str, old: str, new: str) -> tuple[str, EditSpan]:
    number = line_of(text, old)
    lines = text.split("\n")
    lines[number - 1] = new
    return "\n".join(lines), EditSpan(start=number, end=number, new_line_count=1)


def splice(text: str, start: int, end: int, new: list[str]) -> tuple[str, EditSpan]:
    """Replace lines start..end (1-based, inclusive; end = start-1 inserts) by `new`."""
    lines = text.split("\n")
    lines[start - 1 : end] = new
    return "\n".join(lines), EditSpan(start=start, end=end, new_line_count=len(new))


def block_lines(case: Case, text: str, index: int) -> tuple[int, int]:
    """First and last line of block `index` in `text` (blocks are separated by blank lines)."""
    first = line_of(text, case.blocks[index].split("\n")[0])
    return first, first + case.blocks[index].count("\n")


def broken(case: Case, *errors: tuple[str, str]) -> str:
    text = case.text
    for old, new in errors:
        text, _ = replace_line(text, old, new)
    return text


# --- every language --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_valid_code_has_no_issues(case: Case) -> None:
    assert lint(case.path, case.text) == []
    assert lint(case.path, case.text + "\n" + case.extra + "\n") == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("which", ["error_in_a", "error_in_b", "error_in_d"])
def test_introduced_syntax_error_is_reported_at_its_line(case: Case, which: str) -> None:
    old, new = getattr(case, which)
    after, edit = replace_line(case.text, old, new)
    for span in (edit, None):
        issues = introduced_issues(case.path, case.text, after, span)
        assert issues, f"{which} not reported"
        assert issues[0].line == edit.start, format_issues(issues)
    assert lint(case.path, after)[0].line == edit.start


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unrelated_edits_around_a_preexisting_error_introduce_nothing(case: Case) -> None:
    before = broken(case, case.error_in_b)
    assert lint(case.path, before), "the pre-existing error must be visible to lint"
    a_first, _ = block_lines(case, before, 1)
    c_first, c_last = block_lines(case, before, 3)
    edits = [
        # above the error, adding lines
        splice(before, a_first, a_first - 1, [*case.extra.split("\n"), ""]),
        # below the error, removing a whole declaration (and its blank line)
        splice(before, c_first, c_last + 1, []),
        # both sides: rewrite block A into two lines more than it had
        splice(before, a_first, block_lines(case, before, 1)[1],
               [*case.extra.split("\n"), "", *case.blocks[1].split("\n")]),
    ]
    for after, edit in edits:
        assert introduced_issues(case.path, before, after, edit) == [], after
        assert introduced_issues(case.path, before, after) == [], after
        # the error is still there, only moved
        assert [i.message for i in lint(case.path, after)] == [
            i.message for i in lint(case.path, before)
        ]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("which", ["error_in_a", "error_in_d"])
def test_second_error_next_to_a_preexisting_one_is_the_only_one_reported(
    case: Case, which: str
) -> None:
    before = broken(case, case.error_in_b)
    old, new = getattr(case, which)
    after, edit = replace_line(before, old, new)
    for span in (edit, None):
        issues = introduced_issues(case.path, before, after, span)
        assert [i.line for i in issues] == [edit.start], format_issues(issues)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fixing_the_preexisting_error_reports_nothing(case: Case) -> None:
    before = broken(case, case.error_in_b)
    after, edit = replace_line(before, case.error_in_b[1], case.error_in_b[0])
    assert introduced_issues(case.path, before, after, edit) == []


# --- Python: compile() and pyflakes ----------------------------------------------------------

PY = "pkg/shapes.py"
PY_TEXT = CASES[0].text


def test_python_introduced_undefined_name_is_reported() -> None:
    after, edit = replace_line(
        PY_TEXT, "    return total", "    return total * undefined_factor"
    )
    issues = introduced_issues(PY, PY_TEXT, after, edit)
    assert issues == [
        LintIssue(
            line=edit.start, column=20, message="undefined name 'undefined_factor'",
            source="pyflakes",
        )
    ]


def test_python_preexisting_undefined_name_does_not_block_an_edit() -> None:
    before, _ = replace_line(PY_TEXT, "    return total", "    return total * legacy_factor")
    assert [i.message for i in lint(PY, before)] == ["undefined name 'legacy_factor'"]
    a_first, _ = block_lines(CASES[0], before, 1)
    after, edit = splice(before, a_first, a_first - 1, ["GREETING = 'hi'", "", ""])
    assert introduced_issues(PY, before, after, edit) == []
    assert introduced_issues(PY, before, after) == []
    # a second use of the same undefined name is new, and reported at its own line
    after, edit = replace_line(before, "    return math.pi * radius ** 2",
                               "    return math.pi * radius ** 2 * legacy_factor")
    assert [(i.line, i.message) for i in introduced_issues(PY, before, after, edit)] == [
        (edit.start, "undefined name 'legacy_factor'")
    ]


def test_python_duplicate_argument_is_reported() -> None:
    after, edit = replace_line(
        PY_TEXT, "def circle_area(radius: float) -> float:",
        "def circle_area(radius: float, radius: float) -> float:",
    )
    issues = introduced_issues(PY, PY_TEXT, after, edit)
    assert len(issues) == 1 and issues[0].line == edit.start
    assert "duplicate argument 'radius'" in issues[0].message


def test_python_introduced_indentation_error_is_reported() -> None:
    old = "    return math.pi * radius ** 2"
    after, edit = replace_line(PY_TEXT, old, "        " + old)  # deeper than the raise above
    issues = introduced_issues(PY, PY_TEXT, after, edit)
    assert [(i.line, i.message, i.source) for i in issues] == [
        (edit.start, "IndentationError: unexpected indent", "python")
    ]


def test_python_unused_import_and_other_style_warnings_are_not_reported() -> None:
    after, edit = splice(PY_TEXT, 1, 0, ["import json", "from typing import Any"])
    assert introduced_issues(PY, PY_TEXT, after, edit) == []
    style_only = "import sys\n\ndef f():\n    unused = 1\n    return '%s' % (1, 2)\n"
    assert lint(PY, style_only) == []


def test_python_compiler_errors_beyond_the_parser_are_reported() -> None:
    after, edit = splice(PY_TEXT, 6, 5, ["return SCALE"])
    issues = introduced_issues(PY, PY_TEXT, after, edit)
    assert [(i.line, i.message) for i in issues] == [
        (6, "SyntaxError: 'return' outside function")
    ]


def test_python_syntax_warnings_are_neither_issues_nor_errors() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lint(PY, "import re\nPATTERN = re.compile('\\d+')\nOK = 1 is 1\n") == []


def test_python_error_message_citing_a_line_still_matches_after_a_shift() -> None:
    before = "import os\n\ndef f():\nx = 1\n"
    after, edit = splice(before, 1, 0, ["import re", "import sys"])
    assert "on line 3" in lint(PY, before)[0].message
    assert "on line 5" in lint(PY, after)[0].message
    assert introduced_issues(PY, before, after, edit) == []
    assert introduced_issues(PY, before, after) == []


def test_python_names_hidden_by_an_old_syntax_error_are_not_blamed_on_the_fix() -> None:
    before = "def f(:\n    pass\n\ndef g():\n    return undefined_a\n"
    after, edit = splice(before, 1, 2, ["def f():", "    return undefined_b"])
    for span in (edit, None):
        assert [i.message for i in introduced_issues(PY, before, after, span)] == [
            "undefined name 'undefined_b'"
        ]


def test_python_nul_byte_is_an_issue() -> None:
    issues = lint(PY, "x = 1\ny = '\x00'\n")
    assert [(i.line, i.source) for i in issues] == [(2, "python")]


# --- matching rules ------------------------------------------------------------------------


def test_missing_brace_that_follows_the_end_of_file_is_still_preexisting() -> None:
    before = "function f(a) {\n  return a + 1;\n}\n\nfunction g(b) {\n  const c = b * 2;\n"
    end = before.count("\n")
    after, edit = splice(before, end + 1, end, ["function h() {", "  return 3;", "}", ""])
    assert lint("a.js", before)[0].line != lint("a.js", after)[0].line
    assert introduced_issues("a.js", before, after, edit) == []
    assert introduced_issues("a.js", before, after) == []


def test_whole_file_rewrite_counts_messages_not_lines() -> None:
    case = CASES[1]  # javascript
    before = broken(case, case.error_in_b)
    moved = "\n\n".join([*case.blocks[:1], case.extra, *case.blocks[1:]]) + "\n"
    after, _ = replace_line(moved, case.error_in_b[0], case.error_in_b[1])
    assert introduced_issues(case.path, before, after) == []
    twice, _ = replace_line(after, case.error_in_d[0], case.error_in_d[1])
    assert len(introduced_issues(case.path, before, twice)) == 1


def test_cpp_header_with_h_extension_is_not_judged_as_c() -> None:
    header = (
        "#pragma once\nnamespace util {\nclass Clock {\n public:\n"
        "  virtual ~Clock() = default;\n  virtual long now() const = 0;\n};\n}  // namespace util\n"
    )
    assert language_for_path("include/clock.h") == "c"
    assert lint("include/clock.h", header) == []
    after, edit = replace_line(header, "  virtual long now() const = 0;", "  virtual long now() const = ;")
    assert [i.line for i in introduced_issues("include/clock.h", header, after, edit)] == [6]


def test_edit_span_rejects_an_end_before_its_start() -> None:
    with pytest.raises(ValueError):
        EditSpan(start=5, end=3, new_line_count=0)
    assert EditSpan(start=5, end=4, new_line_count=2).line_delta == 2


# --- API details ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a.py", "python"), ("stubs/a.pyi", "python"), ("a.js", "javascript"),
        ("a.mjs", "javascript"), ("a.cjs", "javascript"), ("a.jsx", "javascript"),
        ("a.ts", "typescript"), ("a.tsx", "tsx"), ("a.go", "go"), ("a.rs", "rust"),
        ("A.java", "java"), ("a.c", "c"), ("a.h", "c"), ("a.cc", "cpp"), ("a.cpp", "cpp"),
        ("a.cxx", "cpp"), ("a.hpp", "cpp"), ("a.hh", "cpp"), ("a.hxx", "cpp"),
        ("A.PY", "python"), ("README.md", None), ("Makefile", None), ("a.py.orig", None),
    ],
)
def test_language_for_path(path: str, language: str | None) -> None:
    assert language_for_path(path) == language


def test_unknown_languages_have_no_issues() -> None:
    assert lint("notes.txt", "def f(:") == []
    assert introduced_issues("notes.txt", "", "def f(:") == []


def test_format_issues() -> None:
    issues = [
        LintIssue(line=n, column=5, message="missing ':'", source="tree-sitter") for n in (3, 12, 40)
    ]
    assert format_issues(issues[:1]) == "- line 3, col 5: missing ':'"
    assert format_issues(issues, limit=2) == (
        "- line 3, col 5: missing ':'\n- line 12, col 5: missing ':'\n(1 more)"
    )
    assert format_issues([]) == ""


def test_issue_is_frozen_and_columns_count_characters() -> None:
    issue = lint("a.js", "const s = 'héllo';\nconst t = ;\n")[0]
    with pytest.raises(ValueError):
        issue.line = 3  # type: ignore[misc]
    assert lint("a.js", "const s = 'é'; const t = ;\n")[0].column == 24
    assert lint(PY, "s = 'é'; t = undefined_x\n")[0].column == 14


# --- robustness ------------------------------------------------------------------------------

NASTY = [
    "",
    "\n\n\n",
    "\x00\x01\x02\xff\xfe",
    "\ufffd\ufffd garbage \ufffd",
    "x = 1\x00\n",
    "(" * 5000,
    "{" * 5000 + "}" * 4000,
    "[" * 300 + "]" * 300,
    "-" * 100_000 + "1",
    "def f():\n" + "    if x:\n" * 150 + "pass\n",
    "\ud800 lone surrogate",
    "a\rb\r\nc\x0c\x1cd",
]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nasty_inputs_never_raise(case: Case) -> None:
    for text in NASTY:
        issues = lint(case.path, text)
        assert all(i.line >= 1 and i.column >= 1 for i in issues)
        assert introduced_issues(case.path, text, text) == []
        introduced_issues(case.path, case.text, text)
        introduced_issues(case.path, text, case.text)


def test_files_over_the_size_limit_are_passed() -> None:
    huge = "x = (\n" * 200_000
    assert lint(PY, huge) == []
    assert introduced_issues(PY, "", huge) == []


def test_large_python_file_is_linted_correctly() -> None:
    body = "\n\n".join(
        f"def f{n}(x: int) -> int:\n    y = x * {n}\n    return y + SCALE\n" for n in range(1250)
    )
    text = "SCALE = 3\n\n" + body
    assert text.count("\n") > 5000
    assert lint(PY, text) == []
    after, edit = replace_line(text, "def f900(x: int) -> int:", "def f900(x: int) -> int")
    start = time.perf_counter()
    issues = introduced_issues(PY, text, after, edit)
    assert time.perf_counter() - start < 5  # a sanity bound, not a benchmark
    assert [(i.line, i.message) for i in issues] == [(edit.start, "SyntaxError: expected ':'")]


# --- properties ------------------------------------------------------------------------------

code_like = st.lists(
    st.sampled_from(
        ["def ", "fn ", "func ", "class ", "int ", "return ", "if ", "x", "y1", "0", "=", ":",
         ";", ",", ".", "(", ")", "{", "}", "[", "]", "<", ">", "'", '"', "`", "\n", "    ",
         "\t", "#", "//", "/*", "*/", "\\", "\x00", "\ufffd", "é"]
    ),
    max_size=80,
).map("".join)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_same_text_introduces_nothing_and_lint_never_raises(
    case: Case, data: st.DataObject
) -> None:
    # arbitrary text, code-shaped noise, and real code with a slice cut out of it
    text = data.draw(
        st.one_of(
            st.text(max_size=300),
            code_like,
            st.tuples(st.integers(0, len(case.text)), st.integers(0, 40)).map(
                lambda cut: case.text[: cut[0]] + case.text[cut[0] + cut[1] :]
            ),
        )
    )
    issues = lint(case.path, text)
    assert issues == sorted(issues, key=lambda i: (i.line, i.column, i.message))
    assert introduced_issues(case.path, text, text) == []
    line = data.draw(st.integers(1, text.count("\n") + 1))
    same = EditSpan(start=line, end=line, new_line_count=1)
    assert introduced_issues(case.path, text, text, same) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_valid_block_edits_never_blame_a_preexisting_error(
    case: Case, data: st.DataObject
) -> None:
    which = data.draw(st.sampled_from(["error_in_a", "error_in_b", "error_in_d"]))
    old, new = getattr(case, which)
    before = broken(case, (old, new))
    blocks = [b.replace(old, new) for b in case.blocks]
    if data.draw(st.booleans()):  # insert a valid declaration before block i (or at the end)
        i = data.draw(st.integers(1, len(blocks)))
        at = block_lines(case, before, i)[0] if i < len(blocks) else before.count("\n") + 1
        after, edit = splice(before, at, at - 1, [*case.extra.split("\n"), ""])
    else:  # delete a declaration that does not hold the error
        j = data.draw(st.sampled_from([j for j in range(1, len(blocks)) if new not in blocks[j]]))
        first, last = block_lines(case, before, j)
        after, edit = splice(before, first, last + 1, [])
    assert introduced_issues(case.path, before, after, edit) == []
    assert introduced_issues(case.path, before, after) == []
