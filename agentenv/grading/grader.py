"""Grading one patch: a fresh runtime from the task's image, the agent's patch minus what may
not be graded (see `guards` and `shadowing`), then the hidden tests, then the test command.

The hidden tests exist only in the grading runtime; the agent's container never sees them.
The code under test is hostile: it runs in the test process and can change anything there. So
no single check is trusted alone: files that would shadow installed modules are dropped, the
tests run under a supervisor as an unprivileged user, pytest's own record travels out through
an authenticated channel, the recorder checks pytest's machinery and audits what the code
under test does, a canary test must fail, and the log and the record must agree both ways
(`hidden_run`, `trust`). A run with evidence of tampering is never resolved.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agentenv.diffs import PatchFormatError, files_in_patch, join_patch, split_patch
from agentenv.grading.applying import apply_patch
from agentenv.grading.guards import (
    MACHINERY_ERE,
    PYTEST_MACHINERY,
    TEST_PATHSPECS,
    DroppedFile,
    changes_pytest_config,
    machinery_references,
    pytest_config_candidates,
    sanitize_patch,
)
from agentenv.grading.hidden_run import HiddenTestsDoNotApply, RunContext, TestRun, run_hidden_tests
from agentenv.grading.log_parsers import TestStatus
from agentenv.grading.report import InstanceReport, graded_report
from agentenv.grading.shadowing import shadowing_files
from agentenv.grading.trust import log_problem, statuses_for_grading, tampering_evidence, without_canary
from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import shell_word
from agentenv.tasks.directives import test_directives
from agentenv.tasks.model import Task

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


def _binary_references(runtime: Runtime, patch: str) -> list[str]:
    """What `machinery_references` cannot read in lines: files the patch gives as git binary
    diffs (a file that is not UTF-8 is sent so), read whole from the runtime after applying."""
    found = []
    for section in split_patch(patch):
        if section.new_path is None or "\nGIT binary patch\n" not in section.text:
            continue
        try:
            data = runtime.read_file(f"{runtime.repo_dir}/{section.new_path}", max_bytes=16 << 20)
        except (OSError, ValueError):
            continue
        match = PYTEST_MACHINERY.search(data.decode("latin-1"))
        if match:
            found.append(f"{section.new_path} (a binary diff): {match.group(0)}")
    return found


def machinery_problem(runtime: Runtime, patch: str) -> str | None:
    """The patch's non-test code reaches into pytest, in a repository whose code never did."""
    references = machinery_references(patch) + _binary_references(runtime, patch)
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


# What the base repository's own code already does: then the patch's code doing it is not
# evidence of tampering (a fix in a library that looks at frames may look at frames).
_CAPABILITIES = {
    "frames": ("_getframe", "currentframe", "f_back", "tb_frame", "getouterframes", "_current_frames"),
    "gc": ("get_objects", "get_referrers", "get_referents"),
    "trace": ("settrace", "setprofile"),
    "source": ("getsource", "getsourcelines", "findsource", "linecache"),
    "marshal": ("marshal",),
    "code": ("__code__",),
}


def base_capabilities(runtime: Runtime) -> dict[str, bool]:
    """Which of `_CAPABILITIES` the base repository's non-test code names (git grep at HEAD)."""
    words = "|".join(word for words in _CAPABILITIES.values() for word in words)
    pathspecs = " ".join(shell_word(spec) for spec in TEST_PATHSPECS)
    found = runtime.run(
        f"cd {_repo(runtime)} && git grep -h -o -w -E {shell_word(words)} HEAD -- . {pathspecs} | sort -u",
        timeout=120,
    )
    named = set(found.output.split()) if found.exit_code == 0 else set()
    return {kind: bool(named & set(words)) for kind, words in _CAPABILITIES.items()}


def _changed_files(patch: str) -> list[str]:
    return [section.new_path for section in split_patch(patch) if section.new_path is not None]


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
        context = RunContext()
        evidence: list[str] = []
        if kept.strip():
            kept = _drop_shadowing_files(task, runtime, kept, report)
        if kept.strip():
            context = RunContext(changed_files=_changed_files(kept), allowed=base_capabilities(runtime))
            applied = apply_patch(runtime, kept, workdir, set(files_in_patch(kept)))
            log_parts.append(applied.log)
            if applied.method is None:
                report.apply_failure = "no method applied the patch: " + _last_lines(applied.log)
                return GradeResult(report, "\n".join(log_parts), time.monotonic() - started)
            report.apply_method = applied.method
            if applied.evidence:  # the tests are not run in a tree the patch program tampered with
                final = graded_report({}, task.FAIL_TO_PASS, task.PASS_TO_PASS, apply_method=applied.method,
                                      dropped_files=report.dropped_files, tampering=applied.evidence)
                return GradeResult(final, "\n".join(log_parts), time.monotonic() - started)
            report.dropped_files += revert_pytest_config(runtime, kept)
            evidence += [machinery] if (machinery := machinery_problem(runtime, kept)) else []
        try:
            run = run_hidden_tests(task, runtime, workdir, timeout, context)
        except HiddenTestsDoNotApply as exc:
            report.error = f"the hidden test patch does not apply after the agent's patch: {_last_lines(str(exc))}"
            return GradeResult(report, "\n".join(log_parts), time.monotonic() - started)
        log_parts.append(f"$ {run.command}\n{run.log}")
        expected = task.FAIL_TO_PASS + task.PASS_TO_PASS
        statuses = statuses_for_grading(run)
        final = graded_report(
            statuses,
            task.FAIL_TO_PASS,
            task.PASS_TO_PASS,
            test_exit_code=run.exit_code,
            apply_method=report.apply_method,
            dropped_files=report.dropped_files,
            skipped_p2p_kept=not strict,
            problem=log_problem(run, expected),
            tampering=evidence + tampering_evidence(run, expected),
        )
        if run.timed_out:
            final.error = f"the test command did not finish within {timeout:.0f}s"
            final.resolved = False
        return GradeResult(
            final, "\n".join(log_parts), time.monotonic() - started, without_canary(run, statuses), run.duration_s
        )
    finally:
        if runtime.kind == "local":
            runtime.run(f"rm -rf {shell_word(workdir)}", timeout=60)
        runtime.close()


def _drop_shadowing_files(task: Task, runtime: Runtime, patch: str, report: InstanceReport) -> str:
    """The patch without the files it creates that would shadow installed modules."""
    sections = split_patch(patch)
    shadows = shadowing_files(runtime, sections, test_directives(task))
    if not shadows:
        return patch
    report.dropped_files += [DroppedFile(path=path, reason=reason) for path, reason in shadows.items()]
    return join_patch([section for section in sections if section.new_path not in shadows])


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
