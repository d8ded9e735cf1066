"""Grading one patch: a fresh runtime from the task's image, the agent's patch minus its test
edits, then the hidden tests, then the test command; statuses parsed from the log.

The hidden tests exist only in the grading runtime; the agent's container never sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agentenv.diffs import PatchFormatError, drop_files, files_in_patch, is_test_path
from agentenv.grading.log_parsers import get_parser
from agentenv.grading.report import InstanceReport, graded_report
from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import shell_word
from agentenv.tasks.model import Task

PATCH_DIR = "/tmp/agentenv-grading"
# Tried in order; the first that applies the whole patch wins. `patch --fuzz` tolerates
# context that drifted, as SWE-bench's harness does.
APPLY_METHODS: list[tuple[str, str]] = [
    ("git apply", "git apply --verbose --whitespace=nowarn {patch}"),
    ("git apply --3way", "git apply --verbose --3way --whitespace=nowarn {patch}"),
    ("patch --fuzz", "patch --batch --forward --fuzz=5 -p1 -i {patch}"),
]


@dataclass
class GradeResult:
    report: InstanceReport
    test_log: str
    duration_s: float


def _apply(runtime: Runtime, patch_path: str) -> tuple[str | None, str]:
    """Apply the patch with the first method that works; (method, log of every attempt)."""
    attempts = []
    for name, template in APPLY_METHODS:
        command = f"cd {shell_word(runtime.repo_dir)} && " + template.format(patch=shell_word(patch_path))
        result = runtime.run(command, timeout=120)
        attempts.append(f"$ {name}\n{result.output.strip()}\n(exit code {result.exit_code})")
        if result.exit_code == 0:
            return name, "\n".join(attempts)
        # Leave a clean tree for the next method: a failed attempt may have half-applied.
        runtime.run(
            f"cd {shell_word(runtime.repo_dir)} && git checkout -q -- . && git clean -fdq",
            timeout=120,
        )
    return None, "\n".join(attempts)


def grade(
    task: Task,
    patch: str | None,
    start_runtime: Callable[[], Runtime],
    *,
    timeout: float = 1800.0,
    parser: str = "pytest",
) -> GradeResult:
    """Grade `patch` for `task` in a runtime from `start_runtime()` (fresh, from the task image)."""
    started = time.monotonic()
    if patch is None or not patch.strip():
        # Like SWE-bench: an empty patch is not graded, and resolves nothing.
        return GradeResult(InstanceReport.for_missing_patch(patch), "", time.monotonic() - started)
    report = InstanceReport(patch_exists=True)

    hidden = set(files_in_patch(task.test_patch))
    try:
        kept, dropped = drop_files(patch, lambda path: path in hidden or is_test_path(path))
    except PatchFormatError as exc:
        # Graded, unresolved: an agent's garbage is its own outcome, not a grading error.
        return GradeResult(report, f"the patch is not a valid diff: {exc}", time.monotonic() - started)
    report.dropped_test_files = dropped

    runtime = start_runtime()
    try:
        log_parts: list[str] = []
        if kept.strip():
            runtime.write_file(f"{PATCH_DIR}/model.patch", kept.encode())
            method, apply_log = _apply(runtime, f"{PATCH_DIR}/model.patch")
            log_parts.append(apply_log)
            if method is None:
                # Graded, unresolved (not an error: the grading itself finished).
                return GradeResult(report, "\n".join(log_parts), time.monotonic() - started)
            report.apply_method = method

        if task.test_patch.strip():
            runtime.write_file(f"{PATCH_DIR}/test.patch", task.test_patch.encode())
            applied = runtime.run(
                f"cd {shell_word(runtime.repo_dir)} && git apply --verbose {PATCH_DIR}/test.patch",
                timeout=120,
            )
            log_parts.append(f"$ git apply test.patch\n{applied.output.strip()}")
            if applied.exit_code != 0:
                report.error = "the hidden test patch does not apply after the agent's patch"
                return GradeResult(report, "\n".join(log_parts), time.monotonic() - started)

        result = runtime.run(f"cd {shell_word(runtime.repo_dir)} && {task.test_cmd}", timeout=timeout)
        log_parts.append(f"$ {task.test_cmd}\n{result.output}")
        statuses = get_parser(parser)(result.output)
        final = graded_report(
            statuses,
            task.FAIL_TO_PASS,
            task.PASS_TO_PASS,
            test_exit_code=result.exit_code,
            apply_method=report.apply_method,
            dropped_test_files=report.dropped_test_files,
        )
        if result.timed_out:
            final.error = f"the test command did not finish within {timeout:.0f}s"
            final.resolved = False
        return GradeResult(final, "\n".join(log_parts), time.monotonic() - started)
    finally:
        runtime.close()
