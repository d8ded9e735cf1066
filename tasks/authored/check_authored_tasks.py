#!/usr/bin/env python3
"""Check that every authored task in this folder is gradable, graded the right way round, and
states in its text everything its hidden tests rely on.

For each ``*.yaml`` spec next to this script (or the specs named on the command line), in a
scratch git repository made from the spec's ``repo_source`` folder:

1. the spec validates as an ``agentenv.tasks.model.Task``, has ``requirements`` and the
   metadata an authored task carries (domain, taxonomy, difficulty, ``language: python``,
   the ``authored`` tag), and its ``instance_id`` starts with ``authored-``;
2. ``patch`` and ``test_patch`` apply cleanly with ``git apply --check``, each alone and the
   two together; ``patch`` touches no test file and ``test_patch`` touches only test files;
3. at the base commit, the visible tests all pass;
4. with ``test_patch`` only, every FAIL_TO_PASS test fails (FAILED or ERROR) and every
   PASS_TO_PASS test passes;
5. with ``patch`` and ``test_patch``, every FAIL_TO_PASS and PASS_TO_PASS test passes, nothing
   fails, and every test that ran is named in one of the two lists (ids compared exactly with
   the ``-rA`` summary lines);
6. the task says what its hidden tests check. For each FAIL_TO_PASS test (its function and
   decorators, read with ``ast`` from the tree with the test patch applied):
   - every name it uses that the test module imports from the library (``from lib.x import
     name``, or ``lib.name`` after ``import lib``) appears as a word in ``requirements``;
   - every attribute and keyword-argument name it uses that the base tree never mentions
     (new API: a method, a property, an option) appears as a word in ``problem_statement``
     or ``requirements``.

The spec's ``test_cmd`` is run as it is, through ``sh -c``, with ``python`` on ``PATH`` being
the interpreter given by ``--python`` (default: this project's ``.venv``, else the running one).

Needs only the standard library, PyYAML, git and pytest in the chosen interpreter, plus this
project's ``agentenv`` package for step 1. Steps 2 to 5 are those of
``tasks/demo/check_demo_tasks.py``, which this script builds on.

Usage: python tasks/authored/check_authored_tasks.py [-v] [--python PATH] [SPEC.yaml ...]
Exit status: 0 when every task passes every check, 1 otherwise.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "demo"))

from check_demo_tasks import (  # noqa: E402 - the demo checker, found through the path above
    CheckFailed,
    TaskChecker,
    changed_files,
    is_test_file,
    main,
    validate_with_model,
)

_DIFFICULTIES = {"easy", "medium", "hard"}
# Attribute and keyword names that tests use through pytest and the standard library; they
# are not the library's API and need not be stated.
_TEST_HARNESS_NAMES = {
    "mark", "parametrize", "raises", "warns", "approx", "fixture", "param", "ids",
    "value", "type", "match", "out", "err", "readouterr", "setattr", "delattr", "setenv",
    "list", "pop", "message", "category", "filename", "lineno", "records", "text",
    "catch_warnings", "simplefilter", "filterwarnings", "write_text", "read_text",
    "encoding", "newline", "tzinfo", "utc", "year", "month", "day", "hour", "minute",
    "second", "microsecond", "date", "time", "replace", "isoweekday", "weekday",
}



def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def source_identifiers(root: Path) -> set[str]:
    """Every identifier, attribute or keyword name spelled in the Python files under root."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        try:
            tokens = tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline)
            names.update(tok.string for tok in tokens if tok.type == tokenize.NAME)
        except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
            continue
    return names


def library_packages(repo: Path) -> set[str]:
    """Top-level packages and modules of the repository, tests excluded."""
    names = {p.parent.name for p in repo.glob("*/__init__.py")}
    names |= {p.stem for p in repo.glob("*.py")}
    return {n for n in names if not is_test_file(n) and n not in ("tests", "test", "conftest")}


class StatedNames:
    """Which names each hidden test relies on, and whether the task's text states them."""

    def __init__(self, repo: Path, base_names: set[str], packages: set[str]) -> None:
        self.repo = repo
        self.base_names = base_names
        self.packages = packages
        self._modules: dict[str, ast.Module] = {}

    def module(self, path: str) -> ast.Module:
        if path not in self._modules:
            self._modules[path] = ast.parse((self.repo / path).read_text("utf-8"), path)
        return self._modules[path]

    def imports(self, tree: ast.Module) -> tuple[dict[str, str], set[str]]:
        """(local name -> imported library name, local names bound to library modules)."""
        names: dict[str, str] = {}
        module_aliases: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] in self.packages:
                    for alias in node.names:
                        names[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in self.packages:
                        module_aliases.add(alias.asname or alias.name.split(".")[0])
        return names, module_aliases

    def function(self, tree: ast.Module, test_id: str) -> ast.AST:
        path, *qualname = test_id.split("::")
        qualname[-1] = qualname[-1].split("[", 1)[0]
        scope: list[ast.stmt] = tree.body
        found: ast.AST | None = None
        for part in qualname:
            found = next(
                (
                    node for node in scope
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and node.name == part
                ),
                None,
            )
            if found is None:
                raise CheckFailed(f"{test_id}: no such test function in {path}")
            scope = getattr(found, "body", [])
        assert found is not None
        return found

    def unstated(self, test_id: str, requirements: str, text: str) -> tuple[set[str], set[str]]:
        """(imported names missing from `requirements`, new API names missing from `text`)."""
        tree = self.module(test_id.split("::", 1)[0])
        imported, module_aliases = self.imports(tree)
        func = self.function(tree, test_id)
        local = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
        used_imports: set[str] = set()
        new_api: set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Name) and node.id in imported:
                used_imports.add(imported[node.id])
            elif isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id in module_aliases:
                    used_imports.add(node.attr)
                else:
                    new_api.add(node.attr)
            elif isinstance(node, ast.keyword) and node.arg:
                new_api.add(node.arg)
        new_api -= self.base_names | local | _TEST_HARNESS_NAMES
        new_api = {name for name in new_api if not name.startswith("__")}
        return used_imports - words(requirements), new_api - words(text)


class AuthoredTaskChecker(TaskChecker):
    """The demo checks, with the authored style's fields and the stated-names check."""

    stated = 0

    def check_spec(self) -> list[str]:
        if note := validate_with_model(self.spec):
            raise CheckFailed(f"agentenv.tasks.model cannot be imported: {note}")
        self.check_authored_fields()
        return []

    def check_authored_fields(self) -> None:
        spec = self.spec
        if not str(spec.get("instance_id", "")).startswith("authored-"):
            raise CheckFailed("instance_id must start with 'authored-'")
        for key in ("problem_statement", "requirements"):
            if not str(spec.get(key) or "").strip():
                raise CheckFailed(f"field {key!r} is missing or empty")
        meta = spec.get("metadata") or {}
        missing = [k for k in ("domain", "taxonomy", "difficulty") if not meta.get(k)]
        if missing:
            raise CheckFailed(f"metadata lacks {missing}")
        if meta["difficulty"] not in _DIFFICULTIES:
            raise CheckFailed(f"metadata.difficulty must be one of {sorted(_DIFFICULTIES)}")
        if meta.get("language") != "python" or "authored" not in (meta.get("tags") or []):
            raise CheckFailed("metadata needs language: python and the 'authored' tag")

    def check_fields(self) -> tuple[list[str], list[str]]:
        f2p, p2p = super().check_fields()
        for name, ids in (("FAIL_TO_PASS", f2p), ("PASS_TO_PASS", p2p)):
            if len(set(ids)) != len(ids):
                raise CheckFailed(f"{name} lists a test more than once")
        return f2p, p2p

    def check_with_hidden_tests(self, source: Path, repo: Path, f2p: list[str]) -> None:
        # The hidden tests rely only on what the task states; the base tree is the source.
        self.stated = self.check_stated(repo, source_identifiers(source), library_packages(source), f2p)

    def summary(self, f2p: list[str], p2p: list[str]) -> str:
        files = changed_files(self.spec["patch"])
        meta = self.spec["metadata"]
        return (
            f"{meta['difficulty']}, F2P {len(f2p)} fail->pass, P2P {len(p2p)} pass->pass, "
            f"patch {len(files)} file(s): {', '.join(files)}; "
            f"names used by {self.stated} hidden test function(s) are stated"
        )

    def check_stated(
        self, repo: Path, base_names: set[str], packages: set[str], f2p: list[str]
    ) -> int:
        requirements = self.spec["requirements"]
        text = self.spec["problem_statement"] + "\n" + requirements
        checker = StatedNames(repo, base_names, packages)
        missing_imports: dict[str, set[str]] = {}
        missing_api: dict[str, set[str]] = {}
        checked: set[str] = set()
        for test_id in f2p:
            try:
                imports, api = checker.unstated(test_id, requirements, text)
            except SyntaxError as exc:
                raise CheckFailed(f"{test_id}: test module does not parse: {exc}") from exc
            checked.add(test_id.split("[", 1)[0])
            if imports:
                missing_imports[test_id] = imports
            if api:
                missing_api[test_id] = api
        if missing_imports:
            raise CheckFailed(
                f"names imported from the library but not named in requirements: "
                f"{missing_imports}"
            )
        if missing_api:
            raise CheckFailed(
                f"new attribute/keyword names used by hidden tests but stated nowhere: "
                f"{missing_api}"
            )
        self.log(f"stated names: {len(checked)} hidden test functions read")
        return len(checked)


if __name__ == "__main__":
    sys.exit(main(folder=HERE, checker=AuthoredTaskChecker, kind="authored", description=__doc__))
