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
project's ``agentenv`` package for step 1.

Usage: python tasks/authored/check_authored_tasks.py [-v] [--python PATH] [SPEC.yaml ...]
Exit status: 0 when every task passes every check, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
_STATUS_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (.+)$")
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)
_FAILING = ("FAILED", "ERROR")
_DIFFICULTIES = {"easy", "medium", "hard"}
_GIT = [
    "git",
    *("-c", "user.name=check", "-c", "user.email=check@localhost", "-c", "core.autocrlf=false"),
]
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


class CheckFailed(Exception):
    """One check of one task did not hold; the message says which and why."""


def default_python() -> str:
    venv_python = PROJECT_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def run(cmd: list[str] | str, cwd: Path, env: dict[str, str] | None = None, shell: bool = False):
    return subprocess.run(
        cmd, cwd=cwd, env=env, shell=shell, capture_output=True, text=True, check=False
    )


def git(repo: Path, *args: str, input_ok: bool = False) -> subprocess.CompletedProcess:
    result = run([*_GIT, *args], cwd=repo)
    if result.returncode != 0 and not input_ok:
        raise CheckFailed(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def parse_statuses(log: str) -> dict[str, str]:
    """Map each test id to its status as printed in pytest's ``-rA`` short summary."""
    statuses: dict[str, str] = {}
    for line in log.splitlines():
        match = _STATUS_LINE.match(line.rstrip())
        if not match:
            continue
        status, rest = match.groups()
        if status == "SKIPPED":  # "SKIPPED [1] path:line: reason" names no test id
            continue
        # FAILED/ERROR lines carry " - <message>" after the id.
        statuses[rest.split(" - ", 1)[0].strip()] = status
    return statuses


def changed_files(patch: str) -> list[str]:
    return [b for _, b in _DIFF_HEADER.findall(patch)]


def is_test_file(path: str) -> bool:
    parts = Path(path).parts
    name = parts[-1]
    return (
        "tests" in parts[:-1]
        or "test" in parts[:-1]
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def validate_with_model(spec: dict) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))
    try:
        from agentenv.tasks.model import Task  # noqa: PLC0415 - the project's own model
    except Exception as exc:
        raise CheckFailed(f"agentenv.tasks.model cannot be imported: {exc}") from exc
    finally:
        sys.path.pop(0)
    try:
        Task.model_validate(spec)
    except Exception as exc:
        raise CheckFailed(f"spec does not validate as a Task: {exc}") from exc


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


class TaskChecker:
    def __init__(self, spec_path: Path, python: str, verbose: bool) -> None:
        self.spec_path = spec_path
        self.python = python
        self.verbose = verbose
        self.spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        if not isinstance(self.spec, dict):
            raise CheckFailed("the spec is not a YAML mapping")
        self.instance_id = self.spec.get("instance_id", spec_path.stem)

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"    {text}")

    def check(self) -> str:
        """Run every check; return a one-line summary, or raise :class:`CheckFailed`."""
        validate_with_model(self.spec)
        self.check_authored_fields()
        f2p, p2p = self.check_fields()
        source = self.check_source()
        with tempfile.TemporaryDirectory(prefix=f"check-{self.instance_id}-") as scratch:
            stated = self.check_in_scratch(source, Path(scratch), f2p, p2p)
        files = changed_files(self.spec["patch"])
        meta = self.spec["metadata"]
        return (
            f"{meta['difficulty']}, F2P {len(f2p)} fail->pass, P2P {len(p2p)} pass->pass, "
            f"patch {len(files)} file(s): {', '.join(files)}; "
            f"names used by {stated} hidden test function(s) are stated"
        )

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
        spec = self.spec
        for key in (
            "repo_source", "patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "test_cmd"
        ):
            if not spec.get(key):
                raise CheckFailed(f"field {key!r} is missing or empty")
        f2p, p2p = list(spec["FAIL_TO_PASS"]), list(spec["PASS_TO_PASS"])
        for name, ids in (("FAIL_TO_PASS", f2p), ("PASS_TO_PASS", p2p)):
            if len(set(ids)) != len(ids):
                raise CheckFailed(f"{name} lists a test more than once")
        overlap = set(f2p) & set(p2p)
        if overlap:
            raise CheckFailed(f"in both FAIL_TO_PASS and PASS_TO_PASS: {sorted(overlap)}")
        for key in ("patch", "test_patch"):
            if not spec[key].endswith("\n"):
                raise CheckFailed(f"{key} does not end with a newline")
        touched = changed_files(spec["patch"])
        bad = [f for f in touched if is_test_file(f)]
        if bad or not touched:
            raise CheckFailed(f"patch must touch only non-test files (touches {bad or 'nothing'})")
        touched = changed_files(spec["test_patch"])
        bad = [f for f in touched if not is_test_file(f)]
        if bad or not touched:
            raise CheckFailed(f"test_patch must touch only test files (touches {bad or 'nothing'})")
        return f2p, p2p

    def check_source(self) -> Path:
        source = (self.spec_path.parent / self.spec["repo_source"]).resolve()
        if not source.is_dir():
            raise CheckFailed(f"repo_source {source} is not a folder")
        if (source / ".git").exists():
            raise CheckFailed(f"repo_source {source} must be plain files, without .git")
        return source

    def check_in_scratch(
        self, source: Path, scratch: Path, f2p: list[str], p2p: list[str]
    ) -> int:
        repo = scratch / "repo"
        ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
        shutil.copytree(source, repo, ignore=ignore)
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        base_names = source_identifiers(repo)
        packages = library_packages(repo)
        patch_file = scratch / "gold.patch"
        test_patch_file = scratch / "tests.patch"
        patch_file.write_bytes(self.spec["patch"].encode("utf-8"))
        test_patch_file.write_bytes(self.spec["test_patch"].encode("utf-8"))
        bindir = scratch / "bin"
        bindir.mkdir()
        (bindir / "python").symlink_to(self.python)
        env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("PYTHONPATH", None)

        # The patches apply, alone and together.
        for label, files in (
            ("patch", [patch_file]),
            ("test_patch", [test_patch_file]),
            ("patch + test_patch", [patch_file, test_patch_file]),
        ):
            result = git(repo, "apply", "--check", *map(str, files), input_ok=True)
            if result.returncode != 0:
                raise CheckFailed(f"git apply --check ({label}): {result.stderr.strip()}")
        self.log("patches apply cleanly, alone and together")

        # Base: the visible tests pass.
        base = self.run_tests(repo, env, "base")
        failing = {t: s for t, s in base.items() if s not in ("PASSED", "XFAIL")}
        if failing or not base:
            raise CheckFailed(f"base: visible tests fail: {failing or 'no tests ran'}")
        unknown = [t for t in p2p if t not in base and not self.in_test_patch(t)]
        if unknown:
            raise CheckFailed(f"PASS_TO_PASS ids found in no test file: {unknown}")

        # Base + hidden tests: F2P fail, P2P pass.
        git(repo, "apply", str(test_patch_file))
        before = self.run_tests(repo, env, "base + test_patch")
        wrong = {t: before.get(t, "missing") for t in f2p if before.get(t) not in _FAILING}
        if wrong:
            raise CheckFailed(f"base + test_patch: FAIL_TO_PASS tests that do not fail: {wrong}")
        wrong = {t: before.get(t, "missing") for t in p2p if before.get(t) != "PASSED"}
        if wrong:
            raise CheckFailed(f"base + test_patch: PASS_TO_PASS tests that do not pass: {wrong}")

        # The hidden tests rely only on what the task states.
        stated = self.check_stated(repo, base_names, packages, f2p)

        # Base + gold patch + hidden tests: everything passes.
        git(repo, "apply", str(patch_file))
        after = self.run_tests(repo, env, "base + patch + test_patch", must_succeed=True)
        wrong = {t: after.get(t, "missing") for t in f2p + p2p if after.get(t) != "PASSED"}
        if wrong:
            raise CheckFailed(f"base + patch + test_patch: tests that do not pass: {wrong}")
        failing = {t: s for t, s in after.items() if s in (*_FAILING, "XPASS")}
        if failing:
            raise CheckFailed(f"base + patch + test_patch: other tests fail: {failing}")
        unlisted = sorted(set(after) - set(f2p) - set(p2p))
        if unlisted:
            raise CheckFailed(f"tests that ran but are in neither list: {unlisted}")
        return stated

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

    def in_test_patch(self, test_id: str) -> bool:
        return test_id.split("::", 1)[0] in changed_files(self.spec["test_patch"])

    def run_tests(self, repo: Path, env: dict[str, str], label: str, must_succeed: bool = False):
        result = run(self.spec["test_cmd"], cwd=repo, env=env, shell=True)
        log = result.stdout + result.stderr
        statuses = parse_statuses(log)
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        self.log(f"{label}: exit {result.returncode}, {counts}")
        if must_succeed and result.returncode != 0:
            raise CheckFailed(f"{label}: test command exited {result.returncode}:\n{log[-2000:]}")
        if not statuses:
            raise CheckFailed(f"{label}: no test statuses in the output:\n{log[-2000:]}")
        return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, help="spec files (default: all here)")
    parser.add_argument(
        "--python", default=default_python(), help="interpreter that runs the tests"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each stage")
    args = parser.parse_args(argv)

    specs = args.specs or sorted(HERE.glob("*.yaml"))
    if not specs:
        print(f"no *.yaml task specs in {HERE}")
        return 1
    failures = 0
    seen: dict[str, Path] = {}
    for spec_path in specs:
        try:
            checker = TaskChecker(spec_path.resolve(), args.python, args.verbose)
            if checker.instance_id in seen:
                raise CheckFailed(f"instance_id already used by {seen[checker.instance_id]}")
            seen[checker.instance_id] = spec_path
            summary = checker.check()
            print(f"OK    {checker.instance_id}: {summary}")
        except (CheckFailed, yaml.YAMLError, OSError) as exc:
            failures += 1
            print(f"FAIL  {spec_path.stem}: {exc}")
    print(f"{len(specs) - failures}/{len(specs)} authored tasks pass every check")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
