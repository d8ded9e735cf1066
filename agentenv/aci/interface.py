"""The agent-computer interface: parses an action, carries it out on a runtime, and says what
happened in words an agent can act on. It never lets an agent's mistake escape as an exception.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentenv.aci import observation as obs
from agentenv.aci.editing import EditRejected, apply_line_edit
from agentenv.aci.parser import ActionParseError, ParsedAction, parse_action
from agentenv.aci.tools import ToolBundle, load_bundle
from agentenv.aci.viewer import Viewer, split_lines
from agentenv.grading.log_parsers import TestStatus, parse_pytest_log
from agentenv.runtime.base import CommandResult, Runtime
from agentenv.runtime.shell import shell_word

# Programs that wait for a terminal user; in an episode they only hang until the timeout.
INTERACTIVE_PROGRAMS = {
    "vi", "vim", "nvim", "nano", "emacs", "pico", "less", "more", "most", "man", "top", "htop",
    "watch", "tmux", "screen", "ipython",
}  # fmt: skip


class ACIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int = Field(100, ge=5)
    overlap: int = Field(2, ge=0)
    command_timeout: float = Field(60.0, gt=0)
    test_timeout: float = Field(600.0, gt=0)
    max_observation_chars: int = Field(40_000, ge=1_000)
    lint: Literal["block", "warn", "off"] = "block"
    max_search_results: int = Field(100, ge=1)
    state_template: str = "(Open file: {open_file})\n(Current directory: {cwd})"


class StepOutcome(BaseModel):
    observation: str
    info: dict[str, Any]
    submitted: bool = False
    patch: str | None = None


class _Failure(Exception):
    """An agent-facing error: its message is the observation."""


class ACI:
    def __init__(
        self,
        runtime: Runtime,
        *,
        test_cmd: str,
        config: ACIConfig | None = None,
        bundle: ToolBundle | None = None,
    ) -> None:
        self.runtime = runtime
        self.test_cmd = test_cmd
        self.config = config or ACIConfig()
        self.bundle = bundle or load_bundle()
        self.viewer = Viewer(window=self.config.window, overlap=self.config.overlap)
        base = runtime.run(f"git -C {shell_word(runtime.repo_dir)} rev-parse HEAD", timeout=30)
        self.base_commit = base.output.strip() if base.exit_code == 0 else "HEAD"

    def docs(self) -> str:
        return self.bundle.docs()

    # -- one step ------------------------------------------------------------------------
    def step(self, action: str) -> StepOutcome:
        started = time.monotonic()
        info: dict[str, Any] = {"command": None, "exit_code": None, "error": None}
        try:
            parsed = parse_action(action, self.bundle)
        except ActionParseError as exc:
            info["error"] = "parse_error"
            return self._outcome(str(exc), info, started)
        info["command"] = parsed.model_dump()
        handler = getattr(self, f"_cmd_{parsed.name}", None)
        if handler is None:
            info["error"] = "not_implemented"
            return self._outcome(f"The command {parsed.name!r} is declared but not available.", info, started)
        try:
            outcome: StepOutcome | str = handler(parsed, info)
        except _Failure as exc:
            info["error"] = info["error"] or "command_error"
            return self._outcome(str(exc), info, started)
        if isinstance(outcome, StepOutcome):
            outcome.info.setdefault("duration_s", time.monotonic() - started)
            return outcome
        return self._outcome(outcome, info, started)

    def _outcome(self, text: str, info: dict[str, Any], started: float) -> StepOutcome:
        info["duration_s"] = time.monotonic() - started
        return StepOutcome(observation=self._finish(text), info=info)

    def _finish(self, text: str) -> str:
        """Clean the text and add the state line, within the observation limit."""
        limit = self.config.max_observation_chars
        state = self.config.state_template.format(
            open_file=self.viewer.path or "n/a", cwd=self.runtime.cwd
        )
        state = _displayable(state)[: limit // 4]  # an absurd path must not crowd out the output
        body = obs.clean(text, limit - len(state) - 1).rstrip()
        return f"{body}\n{state}" if body else state

    # -- helpers -------------------------------------------------------------------------
    def _resolve(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.runtime.cwd, path))

    def _read_text(self, path: str) -> str:
        try:
            data = self.runtime.read_file(path)
        except FileNotFoundError:
            raise _Failure(f"File {path} not found.") from None
        except IsADirectoryError:
            raise _Failure(f"{path} is a directory, not a file (use find_file or bash ls).") from None
        except PermissionError:
            raise _Failure(f"{path} cannot be read: permission denied.") from None
        if b"\x00" in data:
            raise _Failure(f"{path} is a binary file; the viewer shows text files only.")
        # surrogateescape keeps bytes that are not UTF-8, so a write puts them back unchanged.
        return data.decode("utf-8", errors="surrogateescape")

    def _open_lines(self) -> tuple[str, list[str]]:
        if self.viewer.path is None:
            raise _Failure("No file is open. Use: open <path> [<line_number>]")
        return self.viewer.path, split_lines(self._read_text(self.viewer.path))

    def _render(self, lines: list[str]) -> str:
        return _displayable(self.viewer.render(lines))

    def _run(self, command: str, info: dict[str, Any], timeout: float | None = None) -> CommandResult:
        result = self.runtime.run(command, timeout=timeout or self.config.command_timeout)
        info["exit_code"] = result.exit_code
        info["execution"] = result.model_dump()
        return result

    # -- viewer --------------------------------------------------------------------------
    def _cmd_open(self, action: ParsedAction, info: dict[str, Any]) -> str:
        path = self._resolve(action.arguments["path"])
        lines = split_lines(self._read_text(path))
        line = action.arguments.get("line_number")
        if line is not None and not 1 <= line <= max(1, len(lines)):
            raise _Failure(f"line_number {line} is out of range: {path} has {len(lines)} lines.")
        self.viewer.open(path, len(lines), line)
        return self._render(lines)

    def _cmd_goto(self, action: ParsedAction, info: dict[str, Any]) -> str:
        _, lines = self._open_lines()
        line = action.arguments["line_number"]
        if not 1 <= line <= max(1, len(lines)):
            raise _Failure(f"line_number {line} is out of range: the file has {len(lines)} lines.")
        self.viewer.center_on(line, len(lines))
        return self._render(lines)

    def _cmd_scroll_down(self, action: ParsedAction, info: dict[str, Any]) -> str:
        _, lines = self._open_lines()
        self.viewer.scroll(+1, len(lines))
        return self._render(lines)

    def _cmd_scroll_up(self, action: ParsedAction, info: dict[str, Any]) -> str:
        _, lines = self._open_lines()
        self.viewer.scroll(-1, len(lines))
        return self._render(lines)

    # -- search --------------------------------------------------------------------------
    def _search_root(self, action: ParsedAction, key: str) -> str:
        folder = self._resolve(action.arguments.get(key) or ".")
        check = self.runtime.run(f"test -d {shell_word(folder)}", timeout=30)
        if check.exit_code != 0:
            raise _Failure(f"Directory {folder} not found.")
        return folder

    def _cmd_find_file(self, action: ParsedAction, info: dict[str, Any]) -> str:
        name = action.arguments["file_name"]
        folder = self._search_root(action, "dir")
        cap = self.config.max_search_results
        result = self._run(
            f"find {shell_word(folder)} -name .git -prune -o -type f -name {shell_word(name)} "
            f"-print 2>/dev/null | head -n {cap + 1}",
            info,
        )
        matches = [line for line in result.output.splitlines() if line]
        if not matches:
            return f'No files named "{name}" found in {folder}.'
        if len(matches) > cap:
            return f'More than {cap} files named "{name}" in {folder}; narrow the search (a folder or a more specific name).'
        listing = "\n".join(matches)
        return f'Found {len(matches)} files named "{name}" in {folder}:\n{listing}'

    def _cmd_search_dir(self, action: ParsedAction, info: dict[str, Any]) -> str:
        term = action.arguments["search_term"]
        if "\n" in term:
            raise _Failure("search_term must be a single line.")
        folder = self._search_root(action, "dir")
        cap = self.config.max_search_results
        result = self._run(
            f"grep -rIcF --exclude-dir=.git -e {shell_word(term)} -- {shell_word(folder)} 2>/dev/null "
            f"| grep -v ':0$' | head -n {cap + 1}",
            info,
        )
        rows = []
        for line in result.output.splitlines():
            path, _, count = line.rpartition(":")
            if path and count.isdigit():
                rows.append((path, int(count)))
        if not rows:
            return f'No matches for "{term}" in {folder}.'
        if len(rows) > cap:
            return f'"{term}" occurs in more than {cap} files under {folder}; narrow the search.'
        total = sum(count for _, count in rows)
        listing = "\n".join(f"{path} ({count} matches)" for path, count in rows)
        return f'Found {total} matches for "{term}" in {len(rows)} files under {folder}:\n{listing}'

    def _cmd_search_file(self, action: ParsedAction, info: dict[str, Any]) -> str:
        term = action.arguments["search_term"]
        if "\n" in term:
            raise _Failure("search_term must be a single line.")
        if action.arguments.get("file"):
            path = self._resolve(action.arguments["file"])
        elif self.viewer.path:
            path = self.viewer.path
        else:
            raise _Failure("No file is open; name one: search_file <search_term> <file>")
        lines = split_lines(self._read_text(path))
        hits = [(n, text) for n, text in enumerate(lines, start=1) if term in text]
        if not hits:
            return f'No matches for "{term}" in {path}.'
        cap = self.config.max_search_results
        if len(hits) > cap:
            return f'"{term}" occurs on {len(hits)} lines of {path} (more than {cap}); narrow the search.'
        listing = "\n".join(f"Line {n}:{text}" for n, text in hits)
        return _displayable(f'Found {len(hits)} matches for "{term}" in {path}:\n{listing}')

    # -- editing -------------------------------------------------------------------------
    def _cmd_create(self, action: ParsedAction, info: dict[str, Any]) -> str:
        path = self._resolve(action.arguments["path"])
        exists = self.runtime.run(f"test -e {shell_word(path)}", timeout=30)
        if exists.exit_code == 0:
            raise _Failure(f"{path} already exists; open it instead.")
        try:
            self.runtime.write_file(path, b"")
        except OSError as exc:
            raise _Failure(f"Could not create {path}: {exc}") from None
        self.viewer.open(path, 0, None)
        return f"Created {path}.\n" + self._render([])

    def _cmd_edit(self, action: ParsedAction, info: dict[str, Any]) -> str:
        path, before = self._open_lines_raw()
        try:
            edit = apply_line_edit(
                path,
                before,
                action.arguments["start_line"],
                action.arguments["end_line"],
                action.arguments["replacement_text"],
                lint_mode=self.config.lint,
                viewer=self.viewer,
            )
        except EditRejected as exc:
            info["error"] = "edit_rejected"
            info["lint"] = [issue.model_dump() for issue in exc.issues]
            raise _Failure(_displayable(str(exc))) from None
        try:
            self.runtime.write_file(path, edit.text.encode("utf-8", errors="surrogateescape"))
        except OSError as exc:
            raise _Failure(f"Could not write {path}: {exc}") from None
        info["lint"] = [issue.model_dump() for issue in edit.warnings]
        self.viewer.show_range(edit.start, edit.start + max(edit.new_line_count, 1) - 1, len(edit.lines))
        message = self._render(edit.lines)
        if edit.warnings:
            message += "\n\nWarning: the edit was applied, but it introduced these problems:\n" + edit.warning_text
        return message

    def _open_lines_raw(self) -> tuple[str, str]:
        if self.viewer.path is None:
            raise _Failure("No file is open. Use: open <path> [<line_number>]")
        return self.viewer.path, self._read_text(self.viewer.path)

    # -- running -------------------------------------------------------------------------
    def _cmd_bash(self, action: ParsedAction, info: dict[str, Any]) -> str:
        command = action.arguments["command"]
        program = command.strip().split(None, 1)[0] if command.strip() else ""
        if posixpath.basename(program) in INTERACTIVE_PROGRAMS:
            raise _Failure(
                f"{program} is interactive and would wait for a terminal user. Use the viewer "
                "(open, goto, scroll_down), the edit command, or non-interactive tools (cat, sed -n, grep)."
            )
        result = self._run(command, info)
        return _describe_run(result, self.config.command_timeout)

    def _cmd_run_tests(self, action: ParsedAction, info: dict[str, Any]) -> str:
        target = action.arguments.get("target")
        command = self.test_cmd + (f" {shell_word(target)}" if target else "")
        result = self._run(f"cd {shell_word(self.runtime.repo_dir)} && {command}", info, self.config.test_timeout)
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
        if result.timed_out:
            summary += f"\nThe test run timed out after {self.config.test_timeout:.0f}s and was interrupted."
        if failing or not statuses or result.exit_code != 0:
            return result.output.rstrip() + "\n\n" + summary
        return summary

    def _cmd_submit(self, action: ParsedAction, info: dict[str, Any]) -> StepOutcome:
        started = time.monotonic()
        patch = self.collect_patch(info)
        info["patch_chars"] = len(patch)
        text = "Submitted your changes." if patch.strip() else "Submitted, with no changes to the repository."
        info["duration_s"] = time.monotonic() - started
        return StepOutcome(observation=self._finish(text), info=info, submitted=True, patch=patch)

    def collect_patch(self, info: dict[str, Any] | None = None) -> str:
        """The working tree's changes against the base commit, as a git patch."""
        repo = shell_word(self.runtime.repo_dir)
        result = self.runtime.run(
            f"git -C {repo} add -A >/dev/null 2>&1; git -C {repo} -c core.quotepath=false "
            f"diff --cached --binary --no-color --no-ext-diff {shell_word(self.base_commit)}",
            timeout=self.config.command_timeout,
        )
        if info is not None:
            info["exit_code"] = result.exit_code
        if result.exit_code != 0:
            raise _Failure(f"Could not collect the changes (git diff failed):\n{result.output}")
        return result.output


def _displayable(text: str) -> str:
    """Undo surrogateescape for display: bytes that are not UTF-8 show as U+FFFD."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def _describe_run(result: CommandResult, timeout: float) -> str:
    notes = []
    if result.timed_out:
        notes.append(
            f"The command did not finish within {timeout:.0f}s and was interrupted; "
            "its output so far is above. Run long jobs in the background or with a smaller scope."
        )
    if result.shell_restarted:
        notes.append("The shell exited; a new shell was started in the repository (variables and cwd were reset).")
    if result.output_bytes_dropped:
        notes.append(f"{result.output_bytes_dropped} bytes of output were left out.")
    if result.exit_code not in (0, None):
        notes.append(f"(exit code {result.exit_code})")
    text = result.output
    if notes:
        text = text.rstrip("\n") + ("\n" if text.strip() else "") + "\n".join(notes)
    return text if text.strip() else "(no output)"
