"""The agent-computer interface: parses an action, carries it out on a runtime, and says what
happened in words an agent can act on. An agent's mistake never escapes as an exception.

The commands live in `commands_*.py`, one module per concern; this module holds the state
they share (the runtime, the viewer, the edit history) and the dispatch.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentenv.aci import commands_edit, commands_run, commands_search, commands_view
from agentenv.aci import observation as obs
from agentenv.aci.commands_edit import EditHistory
from agentenv.aci.errors import CommandError
from agentenv.aci.parser import ActionParseError, parse_action
from agentenv.aci.patch import PatchError, PatchSource, collect_patch
from agentenv.aci.tools import ToolBundle, load_bundle
from agentenv.aci.viewer import Viewer, split_lines
from agentenv.runtime.base import CommandResult, FileTooLarge, PlumbingResult, Runtime
from agentenv.runtime.shell import shell_word

Handler = Callable[["ACI", dict[str, Any], dict[str, Any]], "str | StepOutcome"]
BUILTIN_COMMANDS: dict[str, Handler] = {
    **commands_view.COMMANDS,
    **commands_search.COMMANDS,
    **commands_edit.COMMANDS,
    **commands_run.COMMANDS,
}
# Where bundle scripts are copied, under the runtime's scratch folder (never in a patch).
SCRIPTS_SUBDIR = "tools"


class ACIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int = Field(100, ge=5)
    overlap: int = Field(2, ge=0)
    command_timeout: float = Field(60.0, gt=0)
    test_timeout: float = Field(600.0, gt=0)
    max_observation_chars: int = Field(40_000, ge=1_000)
    max_test_output_chars: int = Field(8_000, ge=500)
    lint: Literal["block", "warn", "off"] = "block"
    max_search_results: int = Field(100, ge=1)
    # The largest file the viewer, the editor and the searches read (about 5 MiB); a larger
    # one is an observation that says its size and how to read parts of it with bash.
    max_file_bytes: int = Field(5 * 1024 * 1024, ge=1)
    # Shown after every observation; fields: {open_file}, {cwd}.
    state_template: str = "(Open file: {open_file})\n(Current directory: {cwd})"


class StepOutcome(BaseModel):
    observation: str
    info: dict[str, Any]
    submitted: bool = False
    patch: str | None = None


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
        self.history = EditHistory()
        missing = [c.name for c in self.bundle.commands if c.name not in BUILTIN_COMMANDS and not c.script]
        if missing:
            raise ValueError(f"commands without an implementation: {', '.join(missing)}")
        self._install_scripts()
        # Before the agent acts: the commit and the ignore rules every patch is made against.
        self.patch_source = PatchSource.snapshot(runtime)
        self.base_commit = self.patch_source.base_commit

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
        try:
            handler = BUILTIN_COMMANDS.get(parsed.name)
            if handler is not None:
                outcome = handler(self, parsed.arguments, info)
            else:
                outcome = commands_run.run_script(self, parsed.name, parsed.arguments, info)
        except CommandError as exc:
            info["error"] = exc.kind
            return self._outcome(str(exc), info, started)
        if isinstance(outcome, StepOutcome):
            outcome.info.setdefault("duration_s", time.monotonic() - started)
            return outcome
        return self._outcome(outcome, info, started)

    def _outcome(self, text: str, info: dict[str, Any], started: float) -> StepOutcome:
        info["duration_s"] = time.monotonic() - started
        return StepOutcome(observation=self.finish(text), info=info)

    def finish(self, text: str) -> str:
        """Clean the text and add the state line, within the observation limit."""
        limit = self.config.max_observation_chars
        state = self.config.state_template.format(
            open_file=self.viewer.path or "n/a", cwd=self.runtime.cwd
        )
        state = displayable(state)[: limit // 4]  # an absurd path must not crowd out the output
        body = obs.clean(displayable(text), limit - len(state) - 1).rstrip()
        return f"{body}\n{state}" if body else state

    # -- what the commands share ---------------------------------------------------------
    def resolve(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.runtime.cwd, path))

    def read_text(self, path: str) -> str:
        limit = self.config.max_file_bytes
        try:
            data = self.runtime.read_file(path, max_bytes=limit)
        except FileTooLarge as exc:
            raise CommandError(
                f"{path} is {exc.size:,} bytes, more than the viewer and the edit commands read "
                f"({limit:,} bytes). Read parts of it with bash: `head -n 100 {path}`, "
                f"`sed -n '200,300p' {path}`, `grep -n PATTERN {path}`; change it with bash "
                "(sed -i, python).",
                kind="file_too_large",
            ) from None
        except FileNotFoundError:
            raise CommandError(f"File {path} not found.") from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory, not a file (use find_file or bash ls).") from None
        except PermissionError:
            raise CommandError(f"{path} cannot be read: permission denied.") from None
        except OSError as exc:
            raise CommandError(f"{path} cannot be read: {exc.strerror or exc}.") from None
        if b"\x00" in data:
            raise CommandError(f"{path} is a binary file; the viewer shows text files only.")
        # surrogateescape keeps bytes that are not UTF-8, so a write puts them back unchanged.
        return data.decode("utf-8", errors="surrogateescape")

    def write_text(self, path: str, text: str) -> None:
        try:
            self.runtime.write_file(path, text.encode("utf-8", errors="surrogateescape"))
        except OSError as exc:
            raise CommandError(f"Could not write {path}: {exc}") from None

    def open_path(self) -> str:
        """The file the viewer has open."""
        if self.viewer.path is None:
            raise CommandError("No file is open. Use: open <path> [<line_number>]")
        return self.viewer.path

    def open_file_lines(self) -> tuple[str, list[str]]:
        path = self.open_path()
        return path, split_lines(self.read_text(path))

    def run(self, command: str, info: dict[str, Any], timeout: float | None = None) -> CommandResult:
        result = self.runtime.run(command, timeout=timeout or self.config.command_timeout)
        info["exit_code"] = result.exit_code
        info["execution"] = result.model_dump()
        return result

    def plumb(self, script: str, timeout: float | None = None) -> PlumbingResult:
        """agentenv's own shell code, in the runtime's plumbing shell (never the agent's)."""
        return self.runtime.run_plumbing(script, timeout=timeout or self.config.command_timeout)

    def exists(self, path: str, test: str = "-e") -> bool:
        return self.plumb(f"test {test} {shell_word(path)}").exit_code == 0

    def collect_patch(self, info: dict[str, Any] | None = None) -> str:
        """The working tree's changes against the base commit, as a byte-exact git patch."""
        try:
            patch = collect_patch(self.runtime, self.patch_source)
        except PatchError as exc:
            if info is not None:
                info["exit_code"] = 1
            message = f"Could not collect the changes: {exc}"
            raise CommandError(message, kind="patch_error") from None
        if info is not None:
            info["exit_code"] = 0
        return patch

    # -- bundle scripts ------------------------------------------------------------------
    def script_path(self, name: str) -> str:
        return f"{self.runtime.scratch_dir}/{SCRIPTS_SUBDIR}/bin/{name}"

    def _install_scripts(self) -> None:
        scripted = [c for c in self.bundle.commands if c.script and c.name not in BUILTIN_COMMANDS]
        for command in scripted:
            with open(command.script, "rb") as script:  # type: ignore[arg-type]
                self.runtime.write_file(self.script_path(command.name), script.read())
        if scripted:
            paths = " ".join(shell_word(self.script_path(c.name)) for c in scripted)
            self.plumb(f"chmod +x -- {paths}", timeout=30)


def displayable(text: str) -> str:
    """Undo surrogateescape for display: bytes that are not UTF-8 show as U+FFFD."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
