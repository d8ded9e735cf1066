"""Grading one patch: a fresh runtime from the task's image, the agent's patch minus what may
not be graded (see `guards`), then the hidden tests, then the test command.

The hidden tests exist only in the grading runtime; the agent's container never sees them.
For pytest, a plugin of ours records each test's outcome beside the log; a log that claims
more than that record, or a record that never finished, is not trusted.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

from agentenv.diffs import PatchFormatError, files_in_patch
from agentenv.grading.guards import (
    MACHINERY_ERE,
    TEST_PATHSPECS,
    DroppedFile,
    changes_pytest_config,
    machinery_references,
    pytest_config_candidates,
    sanitize_patch,
)
from agentenv.grading.log_parsers import TestStatus, get_parser
from agentenv.grading.report import PASSING, InstanceReport, graded_report
from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import shell_word
from agentenv.tasks.directives import hidden_test_command
from agentenv.tasks.model import Task

# Tried in order; the first that applies the whole patch wins (SWE-bench's chain, plus 3-way).
APPLY_METHODS: list[tuple[str, str]] = [
    ("git apply", "git apply --verbose --whitespace=nowarn {patch}"),
    ("git apply --3way", "git apply --verbose --3way --whitespace=nowarn {patch}"),
    ("git apply --reject", "git apply --verbose --reject --whitespace=nowarn {patch}"),
    ("patch --fuzz", "patch --batch --forward --fuzz=5 -p1 -i {patch}"),
]
PLUGIN_MODULE = "agentenv_results"


@dataclass
class TestRun:
    """One run of the test command, and what was recorded of it."""

    __test__ = False

    log: str
    exit_code: int | None
    timed_out: bool
    statuses: dict[str, TestStatus]
    # From the results plugin (pytest only): None when it was not used.
    recorded: dict[str, TestStatus] | None = None
    finished: bool = False
    duration_s: float = 0.0


@dataclass
class GradeResult:
    report: InstanceReport
    test_log: str
    duration_s: float
    # Every test's status in the run (empty when the tests did not run).
    statuses: dict[str, TestStatus] = field(default_factory=dict)
    # The test command's own time; the rest of duration_s is grading's overhead.
    test_duration_s: float = 0.0


def _repo(runtime: Runtime) -> str:
    return shell_word(runtime.repo_dir)


def apply_patch(runtime: Runtime, patch: str, workdir: str) -> tuple[str | None, str]:
    """Apply with the first method that works: (its name or None, the log of every attempt)."""
    path = f"{workdir}/model.patch"
    runtime.write_file(path, patch.encode())
    attempts = []
    for name, template in APPLY_METHODS:
        result = runtime.run(f"cd {_repo(runtime)} && " + template.format(patch=shell_word(path)), timeout=120)
        attempts.append(f"$ {name}\n{result.output.strip()}\n(exit code {result.exit_code})")
        if result.exit_code == 0:
            return name, "\n".join(attempts)
        # Leave a clean tree for the next method: a failed attempt may have half-applied.
        runtime.run(f"cd {_repo(runtime)} && git checkout -q -- . && git clean -fdq", timeout=120)
    return None, "\n".join(attempts)


def _read_or_none(runtime: Runtime, path: str) -> str | None:
    try:
        return runtime.read_file(path).decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, OSError):
        return None


def revert_pytest_config(runtime: Runtime, patch: str) -> list[DroppedFile]:
    """Put back any pytest configuration the applied patch changed (plugins, deselection)."""
    reverted = []
    for path in pytest_config_candidates(patch):
        base = runtime.run(f"cd {_repo(runtime)} && git show HEAD:{shell_word(path)}", timeout=60)
        base_text = base.output if base.exit_code == 0 else None
        patched = _read_or_none(runtime, f"{runtime.repo_dir}/{path}")
        if changes_pytest_config(path, base_text, patched):
            restore = f"git checkout -q HEAD -- {shell_word(path)}" if base_text is not None else f"rm -f -- {shell_word(path)}"
            runtime.run(f"cd {_repo(runtime)} && {restore}", timeout=60)
            reverted.append(DroppedFile(path=path, reason="changes pytest's configuration"))
    return reverted


def machinery_problem(runtime: Runtime, patch: str) -> str | None:
    """The patch's non-test code reaches into pytest, in a repository whose code never did."""
    references = machinery_references(patch)
    if not references:
        return None
    # git grep's exit code 1 means no match: the base code (tests aside) never names these.
    pathspecs = " ".join(shell_word(spec) for spec in TEST_PATHSPECS)
    base = runtime.run(
        f"cd {_repo(runtime)} && git grep -q -w -E {shell_word(MACHINERY_ERE)} HEAD -- . {pathspecs}",
        timeout=120,
    )
    if base.exit_code == 0:
        return None
    return "the patch's code reaches into pytest's machinery: " + "; ".join(references[:3])


def _install_plugin(runtime: Runtime, workdir: str) -> None:
    source = resources.files("agentenv.grading").joinpath("pytest_results_plugin.py").read_bytes()
    runtime.write_file(f"{workdir}/plugin/{PLUGIN_MODULE}.py", source)


def run_hidden_tests(task: Task, runtime: Runtime, workdir: str, timeout: float) -> TestRun:
    """Apply the hidden test patch (if any) and run the test command, with pytest's record."""
    if task.test_patch.strip():
        runtime.write_file(f"{workdir}/test.patch", task.test_patch.encode())
        applied = runtime.run(f"cd {_repo(runtime)} && git apply --verbose {workdir}/test.patch", timeout=120)
        if applied.exit_code != 0:
            raise HiddenTestsDoNotApply(applied.output.strip())
    use_plugin = task.log_parser == "pytest"
    results = f"{workdir}/results.jsonl"
    environment = ""
    if use_plugin:
        _install_plugin(runtime, workdir)
        environment = (
            f"export AGENTENV_RESULTS={shell_word(results)}; "
            f'export PYTEST_ADDOPTS="${{PYTEST_ADDOPTS:+$PYTEST_ADDOPTS }}-p {PLUGIN_MODULE}"; '
            f'export PYTHONPATH={shell_word(workdir + "/plugin")}"${{PYTHONPATH:+:$PYTHONPATH}}"; '
        )
    result = runtime.run(f"( {environment}cd {_repo(runtime)} && {hidden_test_command(task)} )", timeout=timeout)
    run = TestRun(
        log=result.output,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        statuses=get_parser(task.log_parser)(result.output),
        duration_s=result.duration_s,
    )
    if use_plugin:
        _read_record(runtime, results, run)
    return run


def _read_record(runtime: Runtime, path: str, run: TestRun) -> None:
    run.recorded = {}
    for line in (_read_or_none(runtime, path) or "").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "test" in record and record.get("status") in TestStatus.__members__:
            run.recorded[record["test"]] = TestStatus(record["status"])
        elif record.get("finished"):
            run.finished = True


class HiddenTestsDoNotApply(Exception):
    """The task's test patch does not apply (after the agent's patch): a task or patch problem."""


def trust_problem(run: TestRun, expected: list[str]) -> str | None:
    """Why the log of this run cannot be trusted for the expected tests, or None."""
    if run.recorded is None:
        return None
    if not run.finished:
        return "the test session did not finish (pytest's own record of it is missing or cut short)"
    for test in expected:
        claimed = run.statuses.get(test)
        if claimed in PASSING and run.recorded.get(test) not in PASSING:
            return f"the log says {test} passed, but pytest recorded {run.recorded.get(test) or 'no such test'}"
    return None


def statuses_for_grading(run: TestRun) -> dict[str, TestStatus]:
    """pytest's record where it exists (it names skipped tests the -rA log leaves out)."""
    return {**run.statuses, **(run.recorded or {})}


def grade(
    task: Task,
    patch: str | None,
    start_runtime: Callable[[], Runtime],
    *,
    timeout: float = 1800.0,
    strict: bool = True,
) -> GradeResult:
    """Grade `patch` for `task` in a runtime from `start_runtime()` (fresh, from the task image).

    `strict` (the default) counts a PASS_TO_PASS test that the patch makes skip as not kept;
    `strict=False` is SWE-bench's rule.
    """
    started = time.monotonic()
    if patch is None or not patch.strip():
        # Like SWE-bench: an empty patch is not graded, and resolves nothing.
        return GradeResult(InstanceReport.for_missing_patch(patch), "", time.monotonic() - started)
    report = InstanceReport(patch_exists=True)
    try:
        kept, dropped = sanitize_patch(patch, files_in_patch(task.test_patch))
    except PatchFormatError as exc:
        # Graded, unresolved: an agent's garbage is its own outcome, not a grading error.
        report.apply_failure = f"not a valid diff: {exc}"
        return GradeResult(report, report.apply_failure, time.monotonic() - started)
    report.dropped_files = dropped

    workdir = scratch_dir()
    runtime = start_runtime()
    log_parts: list[str] = []
    try:
        suspicion: str | None = None
        if kept.strip():
            method, apply_log = apply_patch(runtime, kept, workdir)
            log_parts.append(apply_log)
            if method is None:
                report.apply_failure = "no method applied the patch: " + _last_lines(apply_log)
                return GradeResult(report, "\n".join(log_parts), time.monotonic() - started)
            report.apply_method = method
            report.dropped_files += revert_pytest_config(runtime, kept)
            suspicion = machinery_problem(runtime, kept)
        try:
            run = run_hidden_tests(task, runtime, workdir, timeout)
        except HiddenTestsDoNotApply as exc:
            report.error = f"the hidden test patch does not apply after the agent's patch: {_last_lines(str(exc))}"
            return GradeResult(report, "\n".join(log_parts), time.monotonic() - started)
        log_parts.append(f"$ {hidden_test_command(task)}\n{run.log}")
        statuses = statuses_for_grading(run)
        final = graded_report(
            statuses,
            task.FAIL_TO_PASS,
            task.PASS_TO_PASS,
            test_exit_code=run.exit_code,
            apply_method=report.apply_method,
            dropped_files=report.dropped_files,
            skipped_p2p_kept=not strict,
            problem=suspicion or trust_problem(run, task.FAIL_TO_PASS + task.PASS_TO_PASS),
        )
        if run.timed_out:
            final.error = f"the test command did not finish within {timeout:.0f}s"
            final.resolved = False
        return GradeResult(
            final, "\n".join(log_parts), time.monotonic() - started, statuses, run.duration_s
        )
    finally:
        if runtime.kind == "local":
            runtime.run(f"rm -rf {shell_word(workdir)}", timeout=60)
        runtime.close()


def scratch_dir() -> str:
    """A fresh folder for grading files, outside the repository (unique: local runs share /tmp)."""
    return f"/tmp/agentenv-grading-{secrets.token_hex(6)}"


def run_without_patch(task: Task, start_runtime: Callable[[], Runtime], *, timeout: float = 1800.0) -> TestRun:
    """The hidden tests on the base code (for validating a task)."""
    workdir = scratch_dir()
    runtime = start_runtime()
    try:
        return run_hidden_tests(task, runtime, workdir, timeout)
    finally:
        if runtime.kind == "local":
            runtime.run(f"rm -rf {shell_word(workdir)}", timeout=60)
        runtime.close()


def _last_lines(text: str, count: int = 6) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-count:] if line.strip())
