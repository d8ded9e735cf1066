"""Changing files: create, edit, str_replace, insert, undo_edit. Every change is lint-guarded
(except create, which makes an empty file) and shows the changed window afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentenv.aci.editing import AppliedEdit, EditRejected, apply_insert, apply_line_edit, apply_str_replace
from agentenv.aci.errors import CommandError
from agentenv.aci.viewer import split_lines
from agentenv.runtime.shell import shell_word

if TYPE_CHECKING:
    from agentenv.aci.interface import ACI

# Per file, how many earlier versions undo_edit can go back to.
UNDO_DEPTH = 20


class EditHistory:
    """The texts files had before each ACI edit, newest last."""

    def __init__(self, depth: int = UNDO_DEPTH) -> None:
        self.depth = depth
        self._versions: dict[str, list[str | None]] = {}

    def push(self, path: str, text: str | None) -> None:
        """`text` None: the file did not exist before the edit."""
        versions = self._versions.setdefault(path, [])
        versions.append(text)
        del versions[: -self.depth]

    def pop(self, path: str) -> str | None:
        versions = self._versions.get(path)
        if not versions:
            raise CommandError(f"No edit of {path} to undo.")
        return versions.pop()


def _write(aci: ACI, path: str, before: str | None, edit: AppliedEdit, info: dict[str, Any]) -> str:
    aci.write_text(path, edit.text)
    aci.history.push(path, before)
    info["lint"] = [issue.model_dump() for issue in edit.warnings]
    if aci.viewer.path != path:
        aci.viewer.open(path, len(edit.lines), None)
    aci.viewer.show_range(edit.start, edit.start + max(edit.new_line_count, 1) - 1, len(edit.lines))
    message = aci.viewer.render(edit.lines)
    if edit.warnings:
        message += "\n\nWarning: the edit was applied, but it introduced these problems:\n" + edit.warning_text
    return message


def _rejected(exc: EditRejected, info: dict[str, Any]) -> CommandError:
    info["lint"] = [issue.model_dump() for issue in exc.issues]
    return CommandError(str(exc), kind="edit_rejected" if exc.issues else "command_error")


def cmd_create(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.resolve(args["path"])
    if aci.exists(path):
        raise CommandError(f"{path} already exists; open it instead.")
    aci.write_text(path, "")
    aci.history.push(path, None)
    aci.viewer.open(path, 0, None)
    return f"Created {path}.\n" + aci.viewer.render([])


def cmd_edit(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.open_path()
    before = aci.read_text(path)  # one read: the edit works on the text, not the viewer's lines
    try:
        edit = apply_line_edit(
            path, before, args["start_line"], args["end_line"], args["replacement_text"],
            lint_mode=aci.config.lint, viewer=aci.viewer,
        )
    except EditRejected as exc:
        raise _rejected(exc, info) from None
    return _write(aci, path, before, edit, info)


def cmd_str_replace(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.resolve(args["path"])
    before = aci.read_text(path)
    try:
        edit = apply_str_replace(
            path, before, args["old_str"], args["new_str"], lint_mode=aci.config.lint, viewer=aci.viewer
        )
    except EditRejected as exc:
        raise _rejected(exc, info) from None
    return _write(aci, path, before, edit, info)


def cmd_insert(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.resolve(args["path"])
    before = aci.read_text(path)
    try:
        edit = apply_insert(path, before, args["line"], args["text"], lint_mode=aci.config.lint, viewer=aci.viewer)
    except EditRejected as exc:
        raise _rejected(exc, info) from None
    return _write(aci, path, before, edit, info)


def cmd_undo_edit(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    path = aci.resolve(args["path"])
    previous = aci.history.pop(path)
    if previous is None:
        aci.plumb(f"rm -f -- {shell_word(path)}", timeout=30)
        if aci.viewer.path == path:
            aci.viewer.path = None
        return f"Undid the creation of {path}: the file is gone."
    aci.write_text(path, previous)
    lines = split_lines(previous)
    if aci.viewer.path != path:
        aci.viewer.open(path, len(lines), None)
    return f"Undid the last edit of {path}.\n" + aci.viewer.render(lines)


COMMANDS = {
    "create": cmd_create,
    "edit": cmd_edit,
    "str_replace": cmd_str_replace,
    "insert": cmd_insert,
    "undo_edit": cmd_undo_edit,
}
