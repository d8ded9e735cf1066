"""Running things: bash, run_tests, submit, and commands implemented by bundle scripts."""

from __future__ import annotations

import posixpath
import re
import time
from typing import TYPE_CHECKING, Any

from agentenv.aci.errors import CommandError
from agentenv.aci.observation import truncate_middle
from agentenv.grading.log_parsers import TestStatus, parse_pytest_log
from agentenv.runtime.base import CommandResult
from agentenv.runtime.shell import shell_word

if TYPE_CHECKING:
    from agentenv.aci.interface import ACI, StepOutcome

# Programs that wait for a terminal user; in an episode they only hang until the timeout.
INTERACTIVE_PROGRAMS = {
    "vi", "vim", "nvim", "nano", "emacs", "pico", "ed", "less", "more", "most", "man", "top",
    "htop", "watch", "tmux", "screen", "ipython", "ssh", "ftp", "telnet",
}  # fmt: skip
_REPL_INTERPRETERS = {"python", "python3", "node", "irb", "ghci", "bash", "sh", "zsh"}
_PYTEST_SECTION = re.compile(r"^=+ (.+?) =+$", re.M)


def run_notes(result: CommandResult, timeout: float, what: str = "command") -> list[str]:
    """Sentences about what happened to a command that its output does not say."""
    notes = []
    if result.timed_out:
        notes.append(
            f"The {what} did not finish within {timeout:.0f}s and was interrupted; "
            "its output so far is above. Run long jobs in the background or with a smaller scope."
        )
    if result.shell_restarted:
        cause = (
            "The command would not stop when interrupted, so its shell was replaced"
            if result.timed_out
            else "The shell exited"
        )
        notes.append(
            f"{cause}: a new shell was started in the repository, and the old one's cwd, "
            "variables and background jobs are gone."
        )
    notes.extend(result.notices)
    if result.output_bytes_dropped:
        notes.append(f"{result.output_bytes_dropped} bytes of output were left out.")
    return notes


def describe_run(result: CommandResult, timeout: float) -> str:
    notes = run_notes(result, timeout)
    if result.exit_code not in (0, None):
        notes.append(f"(exit code {result.exit_code})")
    text = result.output
    if notes:
        text = text.rstrip("\n") + ("\n" if text.strip() else "") + "\n".join(notes)
    return text if text.strip() else "(no output)"


def _interactive_refusal(command: str) -> str | None:
    words = command.strip().split()
    if not words:
        return None
    program = posixpath.basename(words[0])
    if program in INTERACTIVE_PROGRAMS:
        return (
            f"{program} is interactive and would wait for a terminal user. Use the viewer "
            "(open, goto, scroll_down), the edit commands, or non-interactive tools (cat, sed -n, grep)."
        )
    if program in _REPL_INTERPRETERS and len(words) == 1:
        return (
            f"A bare {program} starts an interactive session, which cannot be used here. "
            f"Run a script or pass the code: {program} -c '...' (or {program} file)."
        )
    return None


def cmd_bash(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    command = args["command"]
    refusal = _interactive_refusal(command)
    if refusal:
        raise CommandError(refusal, kind="interactive_command")
    result = aci.run(command, info)
    return describe_run(result, aci.config.command_timeout)


def _failure_sections(log: str) -> str:
    """pytest's FAILURES / ERRORS sections and its short summary, without the noise."""
    keep: list[str] = []
    headers = list(_PYTEST_SECTION.finditer(log))
    for index, header in enumerate(headers):
        title = header.group(1).lower()
        if title in ("failures", "errors") or title.startswith("short test summary"):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(log)
            keep.append(log[header.start() : end].rstrip())
    return "\n".join(keep)


def cmd_run_tests(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    target = args.get("target")
    command = aci.test_cmd + (f" {shell_word(target)}" if target else "")
    result = aci.run(f"cd {shell_word(aci.runtime.repo_dir)} && {command}", info, aci.config.test_timeout)
    statuses = parse_pytest_log(result.output)
    groups: dict[str, list[str]] = {status.value.lower(): [] for status in TestStatus}
    for test_id, status in statuses.items():
        groups[status.value.lower()].append(test_id)
    info["test_results"] = {"counts": {k: len(v) for k, v in groups.items()}, **groups}
    counts = ", ".join(f"{len(v)} {k}" for k, v in groups.items() if v) or "no test results found"
    summary = f"Tests: {counts} (exit code {result.exit_code})."
    failing = groups["failed"] + groups["error"]
    if failing:
        summary += "\nFailing: " + ", ".join(failing[:20]) + (" ..." if len(failing) > 20 else "")
    notes = run_notes(result, aci.config.test_timeout, what="test run")
    if notes:
        summary += "\n" + "\n".join(notes)
    if not failing and statuses and result.exit_code == 0:
        return summary
    # What the agent needs to act on: the failures, or (no parsed results) the log's end.
    details = _failure_sections(result.output) or result.output
    return truncate_middle(details.strip(), aci.config.max_test_output_chars) + "\n\n" + summary


def cmd_submit(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> StepOutcome:
    from agentenv.aci.interface import StepOutcome

    started = time.monotonic()
    patch = aci.collect_patch(info)
    info["patch_chars"] = len(patch)
    text = "Submitted your changes." if patch.strip() else "Submitted, with no changes to the repository."
    info["duration_s"] = time.monotonic() - started
    return StepOutcome(observation=aci.finish(text), info=info, submitted=True, patch=patch)


def run_script(aci: ACI, name: str, args: dict[str, Any], info: dict[str, Any]) -> str:
    """A bundle command: its script in the container, its arguments in declaration order."""
    spec = aci.bundle.by_name[name]
    words = [shell_word(aci.script_path(name))]
    for argument in spec.arguments:
        if argument.name in args:
            words.append(shell_word(str(args[argument.name])))
    result = aci.run(" ".join(words), info)
    return describe_run(result, aci.config.command_timeout)


COMMANDS = {
    "bash": cmd_bash,
    "run_tests": cmd_run_tests,
    "submit": cmd_submit,
}
