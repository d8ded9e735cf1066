"""Python source to syntax tree (and tree to code) from any thread.

CPython 3.11 keeps the depth counter of its AST conversions in state that every thread shares,
so two threads converting at once can fail with "SystemError: AST constructor recursion depth
mismatch" (seen on 3.11.7 while two grades of one test session built their mutants). Grades
and lint checks run in worker threads, so every conversion goes through one lock; a parse
takes milliseconds.
"""

from __future__ import annotations

import ast
import threading
from types import CodeType

_CONVERTING = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse`, one thread at a time. Raises SyntaxError (and ValueError for NUL bytes)."""
    with _CONVERTING:
        return ast.parse(source, filename)


def compile_tree(tree: ast.Module, filename: str) -> CodeType:
    """Compile a tree (errors only the compiler sees: `return` outside a function), one thread
    at a time: turning the tree back into the compiler's form uses the same shared counter."""
    with _CONVERTING:
        return compile(tree, filename, "exec")
