"""Tasks from real packages: break the code where its own tests notice, one bug per task.

For `pypi:NAME==VERSION`: build an environment with the package installed from its sdist, run
its test suite to learn which tests pass, then try mutations (see `mutations`) one at a time
in that environment. A mutation is kept when some tests fail and the rest of the suite still
passes (no collection error, not most of the suite). Each kept mutation becomes a task:
- its base tree is the sdist with the bug (`base_patch`) and without the test files of the
  failing tests (`hidden_tests`: they come back only when grading, as the test patch);
- its reference `patch` undoes the bug; FAIL_TO_PASS are the failing tests, PASS_TO_PASS every
  other baseline-passing test of the hidden test files (the files the hidden test run names:
  SWE-bench's directives), not a sample;
- its problem statement is written from the failing tests' output (see `problem`).
Every task is then validated; only valid ones are written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from agentenv.diffs import is_test_path
from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.log_parsers import TestStatus, parse_pytest_log
from agentenv.grading.validate import validate_task
from agentenv.runtime.base import Runtime
from agentenv.synth.mutations import Mutation, candidate_mutations, sample_mutations
from agentenv.synth.problem import bug_report
from agentenv.tasks.model import Environment, Metadata, Task
from agentenv.tasks.pypi import parse_spec, pristine_tree

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
_PASSING = {TestStatus.PASSED, TestStatus.XFAIL}
TEST_DIRS = ("tests", "test", "testing")
# The tasks' test command: pytest with the package's own addopts switched off (they often name
# plugins, such as coverage, that the suite does not need). It names no folder: the hidden test
# run appends the task's test directives (the hidden test files).
DEFAULT_TEST_CMD = "python -m pytest -rA -p no:cacheprovider -o addopts=''"
PASS_TO_PASS_RULE = "every baseline-passing test of the hidden test files"
NOT_SOURCE = {"setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py"}


class SynthError(ValueError):
    """The package cannot be made into tasks; the message says why and what to pass."""


class Recipe(BaseModel):
    """How one package is installed and tested."""

    source: str
    install: list[str] = Field(
        default_factory=lambda: [
            "python -m pip install --no-cache-dir -e .",
            "python -m pip install --no-cache-dir 'pytest>=8,<9'",
        ]
    )
    # The tasks' test command; default DEFAULT_TEST_CMD. Synthesis runs it on the test folders
    # found (the whole suite); the tasks' hidden test runs name their hidden test files.
    test_cmd: str | None = None
    max_fail_to_pass: int = 15
    test_timeout: float = 300.0


class SynthReport(BaseModel):
    source: str
    baseline_passing: int
    tried: int
    kept: list[str] = Field(default_factory=list)
    rejected: dict[str, int] = Field(default_factory=dict)
    invalid: dict[str, list[str]] = Field(default_factory=dict)


def _read(path: Path) -> str:
    """A source file exactly (line endings kept), so diffs made from it apply to the sdist."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


def discover_tests(tree: Path) -> list[str]:
    found = [name for name in TEST_DIRS if (tree / name).is_dir()]
    found += [str(p.relative_to(tree)) for p in tree.glob("*/tests") if p.is_dir() and (p.parent / "__init__.py").is_file()]
    found += [p.name for p in tree.glob("test_*.py")]
    if not found:
        raise SynthError(f"no test suite found in {tree.name} (tests/, test/, <package>/tests, test_*.py); pass --test-cmd")
    return found


def source_files(tree: Path) -> list[str]:
    """The package's own modules: not its tests (by `is_test_path`: a package's own `testing/`
    or `test/` module is library code), docs, examples or build scripts."""
    skip_dirs = {"docs", "doc", "examples", "example", "benchmarks", "scripts", "tools", "build"}
    files = []
    for path in sorted(tree.rglob("*.py")):
        relative = path.relative_to(tree)
        parts = relative.parts
        if any(p in skip_dirs or p.startswith(".") for p in parts[:-1]) or relative.name in NOT_SOURCE:
            continue
        if is_test_path(relative.as_posix()):
            continue
        files.append(str(relative))
    return files


def _diff(relative: str, before: str, after: str, context: int = 2) -> str:
    """A git diff of one file, with little context (the less third-party code, the better)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, before)
        git = ["git", "-C", scratch, "-c", "user.name=a", "-c", "user.email=a@a"]
        # The user's git settings (diff.noprefix, commit.gpgsign, ...) must not shape the patch.
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        subprocess.run([*git, "init", "-q"], check=True, env=env)
        subprocess.run([*git, "add", "-A"], check=True, env=env)
        subprocess.run([*git, "commit", "-qm", "x"], check=True, env=env)
        _write(target, after)
        return subprocess.run([*git, "diff", f"-U{context}"], check=True, capture_output=True, text=True, env=env).stdout


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        handle.write(text)


def _run_suite(runtime: Runtime, command: str, timeout: float) -> tuple[dict[str, TestStatus], str, bool, float]:
    result = runtime.run(f"cd {runtime.repo_dir} && {command}", timeout=timeout)
    collection_error = "errors during collection" in result.output or "ERROR collecting" in result.output
    return parse_pytest_log(result.output), result.output, collection_error or result.timed_out, result.duration_s


def _task_id(spec_key: str, mutation: Mutation) -> str:
    digest = hashlib.sha256(f"{mutation.path}:{mutation.start_byte}:{mutation.replacement}".encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{spec_key}-{mutation.operator.replace('_', '-')}-{digest}")


def _difficulty(failing: int, operator: str) -> str:
    if operator in ("drop_statement", "swap_arguments", "wrong_return") or failing <= 2:
        return "medium"
    return "easy"


def synthesize(
    recipe: Recipe,
    out_dir: Path,
    *,
    n: int = 5,
    seed: int = 0,
    max_tries: int | None = None,
    validate_runs: int = 1,
    progress: Progress = log.info,
) -> SynthReport:
    spec = parse_spec(recipe.source)
    tree, _ = pristine_tree(spec)
    test_cmd = recipe.test_cmd or DEFAULT_TEST_CMD
    suite_cmd = suite_command(recipe, tree)
    base = Task(
        instance_id=f"{spec.key}-base".replace("+", "-"),
        repo_source=recipe.source,
        problem_statement="(the package's own test suite)",
        test_cmd=suite_cmd,
        environment=Environment(install=recipe.install),
    )
    settings = RuntimeSettings(kind="docker")
    progress(f"building the environment of {recipe.source}")
    runtime = provision(base, settings).start()
    report = SynthReport(source=recipe.source, baseline_passing=0, tried=0)
    written: list[Path] = []
    try:
        baseline, _, broken, seconds = _run_suite(runtime, suite_cmd, recipe.test_timeout)
        # A mutation that makes the suite loop is cut short: a few times the suite's own time.
        recipe = recipe.model_copy(update={"test_timeout": min(recipe.test_timeout, max(30.0, 5 * seconds))})
        passing = sorted(t for t, s in baseline.items() if s in _PASSING)
        report.baseline_passing = len(passing)
        if broken or not passing:
            raise SynthError(f"the test suite of {recipe.source} does not run cleanly ({len(passing)} tests pass); check --install and --test-cmd")
        progress(f"{len(passing)} tests pass at baseline")
        candidates = [m for path in source_files(tree) for m in candidate_mutations(path, _read(tree / path))]
        tries = sample_mutations(candidates, max_tries or n * 8, seed)
        for mutation in tries:
            if len(report.kept) >= n:
                break
            report.tried += 1
            outcome = _try(runtime, tree, mutation, suite_cmd, passing, recipe)
            if isinstance(outcome, str):
                report.rejected[outcome] = report.rejected.get(outcome, 0) + 1
                continue
            failing, log_text = outcome
            task = _make_task(spec, recipe, mutation, tree, test_cmd, passing, failing, log_text)
            path = out_dir / f"{task.instance_id}.yaml"
            _write_spec(task, path)
            written.append(path)
            report.kept.append(task.instance_id)
            progress(f"kept {task.instance_id}: {len(failing)} failing tests")
    finally:
        runtime.close()
    _validate_written(written, settings, validate_runs, report, progress)
    return report


def _try(
    runtime: Runtime, tree: Path, mutation: Mutation, test_cmd: str, passing: list[str], recipe: Recipe
) -> tuple[list[str], str] | str:
    original = _read(tree / mutation.path)
    target = f"{runtime.repo_dir}/{mutation.path}"
    runtime.write_file(target, mutation.apply(original).encode("utf-8", errors="surrogateescape"))
    try:
        statuses, log_text, broken, _ = _run_suite(runtime, test_cmd, recipe.test_timeout)
    finally:
        runtime.write_file(target, original.encode("utf-8", errors="surrogateescape"))
    if broken:
        return "breaks collection or hangs"
    failing = [t for t in passing if statuses.get(t) not in _PASSING]
    if not failing:
        return "no test notices it"
    if len(failing) > recipe.max_fail_to_pass or len(failing) > len(passing) // 3:
        return "breaks too much of the suite"
    if any("::" not in t or not (tree / t.split("::")[0]).is_file() for t in failing):
        return "a failing test is not in a test file"
    return failing, log_text


def suite_command(recipe: Recipe, tree: Path) -> str:
    """What synthesis runs to learn which tests a mutation breaks: the whole suite."""
    if recipe.test_cmd:
        return recipe.test_cmd
    return DEFAULT_TEST_CMD + " " + " ".join(discover_tests(tree))


def hidden_files(failing: list[str]) -> list[str]:
    return sorted({t.split("::")[0] for t in failing})


def pass_to_pass(passing: list[str], failing: list[str]) -> list[str]:
    """Every baseline-passing test of the hidden test files that the bug does not break."""
    hidden, broken = set(hidden_files(failing)), set(failing)
    return sorted(t for t in passing if t.split("::")[0] in hidden and t not in broken)


def _make_task(spec, recipe, mutation, tree, test_cmd, passing, failing, log_text) -> Task:  # type: ignore[no-untyped-def]
    original = _read(tree / mutation.path)
    mutated = mutation.apply(original)
    return Task(
        instance_id=_task_id(spec.key, mutation),
        repo_source=recipe.source,
        problem_statement=bug_report(spec.name, spec.version, failing, log_text),
        base_patch=_diff(mutation.path, original, mutated),
        patch=_diff(mutation.path, mutated, original),
        hidden_tests=hidden_files(failing),
        FAIL_TO_PASS=failing,
        PASS_TO_PASS=pass_to_pass(passing, failing),
        test_cmd=test_cmd,
        environment=Environment(install=recipe.install),
        metadata=Metadata(
            domain=spec.normalized,
            taxonomy=f"synthetic/{mutation.operator}",
            difficulty=_difficulty(len(failing), mutation.operator),
            language="python",
            tags=["synthetic", spec.normalized, mutation.operator],
            package=spec.name,
            version=spec.version,
            operator=mutation.operator,
        ),
    )


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def _write_spec(task: Task, path: Path) -> None:
    """YAML with block scalars for the long texts (the test patch is left out: it is made
    from `hidden_tests` when the task is loaded)."""
    data = task.model_dump(mode="json", exclude={"test_patch", "spec_origin"}, exclude_defaults=False)
    for key in ("problem_statement", "patch", "base_patch"):
        value = data[key]
        # A block scalar cannot hold trailing spaces or tabs reliably: keep those quoted.
        if "\n" in value and not re.search(r"[ \t]\n|\t", value):
            data[key] = _Literal(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def _validate_written(paths: list[Path], settings: RuntimeSettings, runs: int, report: SynthReport, progress: Progress) -> None:
    from agentenv.tasks.loader import load_tasks

    for path in paths:
        (task,) = load_tasks(path)
        result = validate_task(task, provision(task, settings).start, runs=runs)
        if not result.valid:
            path.unlink()
            report.kept.remove(task.instance_id)
            report.invalid[task.instance_id] = result.reasons
            progress(f"dropped {task.instance_id}: {'; '.join(result.reasons)}")
