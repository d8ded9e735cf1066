"""The oracle: carries out a task's reference patch through the ACI, as an agent would.

It finds the file, opens it, makes each change with a line-range `edit`, runs the tests and
submits: a realistic multi-step trajectory whose outcome is known. Changes a line edit cannot
express (binary files, renames, mode changes, a missing final newline) are applied with
`git apply` through `bash`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

from agentenv.aci.parser import format_action
from agentenv.aci.tools import ToolBundle, load_bundle
from agentenv.agents.base import AgentError, AgentStep
from agentenv.diffs import FilePatch, Hunk, parse_hunks, split_patch
from agentenv.tasks.model import Task
from agentenv.trajectory.model import AgentInfo

_HEREDOC_END = "AGENTENV_ORACLE_PATCH"


def _change_groups(hunk: Hunk) -> Iterable[tuple[int, int, list[str]]]:
    """(first old line, last old line, new lines) of each run of changes in a hunk.

    A pure insertion is expressed as rewriting a neighbouring context line with the
    insertion next to it, since an edit replaces a non-empty range.
    """
    old_line = hunk.old_start if hunk.old_count else hunk.old_start + 1
    # Hunk lines keep their newline; an edit's lines are given without it.
    lines = [line.removesuffix("\n") for line in hunk.lines]
    index = 0
    previous_context: tuple[int, str] | None = None
    while index < len(lines):
        line = lines[index]
        if line.startswith(" "):
            previous_context = (old_line, line[1:])
            old_line += 1
            index += 1
            continue
        removed: list[str] = []
        added: list[str] = []
        first_old = old_line
        while index < len(lines) and not lines[index].startswith(" "):
            if lines[index].startswith("-"):
                removed.append(lines[index][1:])
                old_line += 1
            else:
                added.append(lines[index][1:])
            index += 1
        if removed:
            yield first_old, first_old + len(removed) - 1, added
        elif previous_context is not None:
            yield previous_context[0], previous_context[0], [previous_context[1], *added]
        elif index < len(lines):  # insertion at the top: anchor on the following line
            yield first_old, first_old, [*added, lines[index][1:]]
        else:
            yield first_old, first_old - 1, added


def _needs_git_apply(file_patch: FilePatch) -> bool:
    text = file_patch.text
    return (
        "\n\\ No newline at end of file" in text
        or "GIT binary patch" in text
        or "Binary files " in text
        or (file_patch.old_path is not None and file_patch.new_path is not None and file_patch.old_path != file_patch.new_path)
        or ("\n@@" not in text and not text.startswith("@@"))
    )


class OracleAgent:
    def __init__(self, tasks: dict[str, Task], bundle: ToolBundle | None = None) -> None:
        self.tasks = tasks
        self.bundle = bundle or load_bundle()
        self.info = AgentInfo(name="oracle")
        self._plan: list[AgentStep] = []

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        task = self.tasks.get(info.get("task_id", ""))
        if task is None:
            raise AgentError(f"the oracle has no reference patch for task {info.get('task_id')!r}")
        self._plan = self.plan(task)

    def act(self, observation: str, info: dict[str, Any]) -> AgentStep:
        if not self._plan:
            return AgentStep(action="submit", thought="Nothing left to do.")
        return self._plan.pop(0)

    # -- planning ------------------------------------------------------------------------
    def _action(self, name: str, thought: str, **arguments: Any) -> AgentStep:
        return AgentStep(action=format_action(name, arguments, self.bundle), thought=thought)

    def plan(self, task: Task) -> list[AgentStep]:
        steps: list[AgentStep] = []
        for file_patch in split_patch(task.patch):
            steps.extend(self._plan_file(file_patch))
        steps.append(self._action("run_tests", "Check that the tests pass with the change."))
        steps.append(self._action("submit", "The change is complete."))
        return steps

    def _plan_file(self, file_patch: FilePatch) -> list[AgentStep]:
        if _needs_git_apply(file_patch):
            if _HEREDOC_END in file_patch.text:
                raise AgentError(f"cannot replay the change to {file_patch.path} through the shell")
            command = f"git apply <<'{_HEREDOC_END}'\n{file_patch.text}{_HEREDOC_END}"
            return [self._action("bash", f"Apply the change to {file_patch.path} with git.", command=command)]
        if file_patch.new_path is None:
            return [self._action("bash", f"{file_patch.path} is no longer needed.", command=f"git rm -q -- {file_patch.path}")]
        if file_patch.old_path is None:
            content = "".join(hunk.new_text for hunk in parse_hunks(file_patch))
            steps = [self._action("create", f"Add the new file {file_patch.path}.", path=file_patch.path)]
            if content:
                steps.append(self._action("edit", "Write its content.", start_line=1, end_line=1, replacement_text=content))
            return steps
        hunks = parse_hunks(file_patch)
        groups = [group for hunk in hunks for group in _change_groups(hunk)]
        name = posixpath.basename(file_patch.path)
        steps = [
            self._action("find_file", f"Locate {name}.", file_name=name),
            self._action("open", f"Look at the code to change in {file_patch.path}.", path=file_patch.path, line_number=max(1, groups[0][0]) if groups else 1),
        ]
        shift = 0
        for first, last, new_lines in groups:
            replacement = "".join(line + "\n" for line in new_lines)
            steps.append(
                self._action(
                    "edit",
                    f"Change lines {first + shift}-{last + shift}.",
                    start_line=first + shift,
                    end_line=last + shift,
                    replacement_text=replacement,
                )
            )
            shift += len(new_lines) - (last - first + 1)
        return steps
