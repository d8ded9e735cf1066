#!/usr/bin/env python3
"""Check that every demo task in this folder is gradable and graded the right way round.

For each ``*.yaml`` spec next to this script (or the specs named on the command line), in a
scratch git repository made from the spec's ``repo_source`` folder:

1. ``patch`` and ``test_patch`` apply cleanly with ``git apply --check``, each alone and the
   two together; ``patch`` touches no test file and ``test_patch`` touches only test files;
2. at the base commit, the visible tests all pass;
3. with ``test_patch`` only, every FAIL_TO_PASS test fails (FAILED or ERROR) and every
   PASS_TO_PASS test passes;
4. with ``patch`` and ``test_patch``, every FAIL_TO_PASS and PASS_TO_PASS test passes, nothing
   fails, and every test that ran is named in one of the two lists.

The spec's ``test_cmd`` is run as it is, through ``sh -c``, with ``python`` on ``PATH`` being
the interpreter given by ``--python`` (default: this project's ``.venv``, else the running one).
Test statuses are read from the ``-rA`` summary lines (``PASSED <id>``, ``FAILED <id> - ...``).

Needs only the standard library, PyYAML, git and pytest in the chosen interpreter. When the
``agentenv`` package is importable, each spec is also validated against its ``Task`` model.

Usage: python tasks/demo/check_demo_tasks.py [-v] [--python PATH] [SPEC.yaml ...]
Exit status: 0 when every task passes every check, 1 otherwise.

``tasks/authored/check_authored_tasks.py`` builds on this module (``TaskChecker`` and ``main``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
_STATUS_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (.+)$")
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)
_FAILING = ("FAILED", "ERROR")
# YAML files of a task folder that are not task specs (the set's validation records).
_NOT_SPECS = {"manifest.yaml"}
_GIT = [
    "git",
    *("-c", "user.name=check", "-c", "user.email=check@localhost", "-c", "core.autocrlf=false"),
]


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


def validate_with_model(spec: dict) -> str | None:
    """Validate against agentenv's Task model when it can be imported; say why not otherwise."""
    sys.path.insert(0, str(PROJECT_ROOT))
    try:
        from agentenv.tasks.model import Task  # noqa: PLC0415 - optional dependency
    except Exception as exc:  # pragma: no cover - depends on the interpreter
        return f"model not checked ({type(exc).__name__})"
    finally:
        sys.path.pop(0)
    try:
        Task.model_validate(spec)
    except Exception as exc:
        raise CheckFailed(f"spec does not validate as a Task: {exc}") from exc
    return None


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
        notes = self.check_spec()
        f2p, p2p = self.check_fields()
        source = self.check_source()
        with tempfile.TemporaryDirectory(prefix=f"check-{self.instance_id}-") as scratch:
            self.check_in_scratch(source, Path(scratch), f2p, p2p)
        return self.summary(f2p, p2p) + (f" [{'; '.join(notes)}]" if notes else "")

    def check_spec(self) -> list[str]:
        """Checks of the spec as a whole; notes on what could not be checked."""
        return [note for note in [validate_with_model(self.spec)] if note]

    def summary(self, f2p: list[str], p2p: list[str]) -> str:
        files = changed_files(self.spec["patch"])
        hunks = self.spec["patch"].count("\n@@ ")
        return (
            f"F2P {len(f2p)} fail->pass, P2P {len(p2p)} pass->pass, "
            f"patch {len(files)} file(s) {hunks} hunk(s): {', '.join(files)}"
        )

    def check_with_hidden_tests(self, source: Path, repo: Path, f2p: list[str]) -> None:
        """More checks with the hidden tests applied and before the reference patch (none here)."""

    def check_fields(self) -> tuple[list[str], list[str]]:
        spec = self.spec
        for key in (
            "repo_source", "patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "test_cmd"
        ):
            if not spec.get(key):
                raise CheckFailed(f"field {key!r} is missing or empty")
        f2p, p2p = list(spec["FAIL_TO_PASS"]), list(spec["PASS_TO_PASS"])
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

    def check_in_scratch(self, source: Path, scratch: Path, f2p: list[str], p2p: list[str]):
        repo = scratch / "repo"
        ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
        shutil.copytree(source, repo, ignore=ignore)
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        patch_file = scratch / "gold.patch"
        test_patch_file = scratch / "tests.patch"
        patch_file.write_bytes(self.spec["patch"].encode("utf-8"))
        test_patch_file.write_bytes(self.spec["test_patch"].encode("utf-8"))
        bindir = scratch / "bin"
        bindir.mkdir()
        (bindir / "python").symlink_to(self.python)
        env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("PYTHONPATH", None)

        # 1. The patches apply, alone and together.
        for label, files in (
            ("patch", [patch_file]),
            ("test_patch", [test_patch_file]),
            ("patch + test_patch", [patch_file, test_patch_file]),
        ):
            result = git(repo, "apply", "--check", *map(str, files), input_ok=True)
            if result.returncode != 0:
                raise CheckFailed(f"git apply --check ({label}): {result.stderr.strip()}")
        self.log("patches apply cleanly, alone and together")

        # 2. Base: the visible tests pass.
        base = self.run_tests(repo, env, "base")
        failing = {t: s for t, s in base.items() if s not in ("PASSED", "XFAIL")}
        if failing or not base:
            raise CheckFailed(f"base: visible tests fail: {failing or 'no tests ran'}")
        unknown = [t for t in p2p if t not in base and not self.in_test_patch(t)]
        if unknown:
            raise CheckFailed(f"PASS_TO_PASS ids found in no test file: {unknown}")

        # 3. Base + hidden tests: F2P fail, P2P pass.
        git(repo, "apply", str(test_patch_file))
        before = self.run_tests(repo, env, "base + test_patch")
        wrong = {t: before.get(t, "missing") for t in f2p if before.get(t) not in _FAILING}
        if wrong:
            raise CheckFailed(f"base + test_patch: FAIL_TO_PASS tests that do not fail: {wrong}")
        wrong = {t: before.get(t, "missing") for t in p2p if before.get(t) != "PASSED"}
        if wrong:
            raise CheckFailed(f"base + test_patch: PASS_TO_PASS tests that do not pass: {wrong}")

        self.check_with_hidden_tests(source, repo, f2p)

        # 4. Base + gold patch + hidden tests: everything passes.
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


def main(
    argv: list[str] | None = None,
    *,
    folder: Path = HERE,
    checker: type[TaskChecker] = TaskChecker,
    kind: str = "demo",
    description: str = __doc__,
) -> int:
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, help="spec files (default: all here)")
    parser.add_argument(
        "--python", default=default_python(), help="interpreter that runs the tests"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each stage")
    args = parser.parse_args(argv)

    specs = args.specs or sorted(p for p in folder.glob("*.yaml") if p.name not in _NOT_SPECS)
    if not specs:
        print(f"no *.yaml task specs in {folder}")
        return 1
    failures = 0
    seen: dict[str, Path] = {}
    for spec_path in specs:
        try:
            task = checker(spec_path.resolve(), args.python, args.verbose)
            if task.instance_id in seen:
                raise CheckFailed(f"instance_id already used by {seen[task.instance_id]}")
            seen[task.instance_id] = spec_path
            summary = task.check()
            print(f"OK    {task.instance_id}: {summary}")
        except (CheckFailed, yaml.YAMLError, OSError) as exc:
            failures += 1
            print(f"FAIL  {spec_path.stem}: {exc}")
    print(f"{len(specs) - failures}/{len(specs)} {kind} tasks pass every check")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
