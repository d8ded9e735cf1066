"""Actions in, parsed commands out: the text syntax and JSON function calls, from one declaration.

Text syntax: the first line is the command and its arguments (shell-like quoting); a command
with a multi-line argument takes the following lines up to its end line (`end_of_edit`); an
argument marked `rest` takes the rest of the text verbatim (`bash <command>`).
Function calls: `{"name": ..., "arguments": {...}}` (arguments may also be a JSON string, as
OpenAI sends them). Both produce the same `ParsedAction`.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, Literal

from pydantic import BaseModel

from agentenv.aci.tools import CommandSpec, ToolBundle

# Lone surrogates ("\\ud800" in a JSON call decodes to one) cannot become bytes for a shell
# or a file; text actions cannot hold them (a Python str from a model's reply could).
_SURROGATE = re.compile("[\ud800-\udfff]")

_PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class ActionParseError(ValueError):
    """The action is not a valid command; the message tells the agent how to fix it."""


class ParsedAction(BaseModel):
    name: str
    arguments: dict[str, Any]
    syntax: Literal["text", "function"]


class _Slot:
    """One whitespace-separated token of a signature, e.g. `<start_line>:<end_line>`."""

    def __init__(self, token: str) -> None:
        self.optional = token.startswith("[") and token.endswith("]")
        body = token[1:-1] if self.optional else token
        self.names = _PLACEHOLDER.findall(body)
        pattern = ""
        position = 0
        for match in _PLACEHOLDER.finditer(body):
            pattern += re.escape(body[position : match.start()]) + f"(?P<{match.group(1)}>.+?)"
            position = match.end()
        pattern += re.escape(body[position:])
        self.regex = re.compile(f"^{pattern}$", re.S)
        self.shape = body


def _slots(spec: CommandSpec) -> list[_Slot]:
    return [_Slot(token) for token in spec.signature.split()[1:]]


def _usage_hint(spec: CommandSpec) -> str:
    return f"Usage:\n{spec.usage}"


def _convert(spec: CommandSpec, name: str, value: Any) -> Any:
    argument = next(a for a in spec.arguments if a.name == name)
    if argument.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ActionParseError(
                f"{spec.name}: <{name}> must be an integer, got {value!r}. {_usage_hint(spec)}"
            )
        try:
            return int(value)
        except ValueError:
            raise ActionParseError(
                f"{spec.name}: <{name}> must be an integer, got {value!r}. {_usage_hint(spec)}"
            ) from None
    if not isinstance(value, str):
        raise ActionParseError(f"{spec.name}: <{name}> must be a string, got {value!r}")
    return value


def _unknown(name: str, bundle: ToolBundle) -> ActionParseError:
    known = ", ".join(bundle.by_name)
    return ActionParseError(
        f"Unknown command {name!r}. Available commands: {known}. "
        "To run a shell command, write: bash <command>"
    )


def parse_action(action: str, bundle: ToolBundle) -> ParsedAction:
    if not isinstance(action, str):
        raise ActionParseError(f"an action must be a string, got {type(action).__name__}")
    if "\x00" in action:
        raise ActionParseError("the action holds a NUL character, which no command accepts")
    surrogate = _SURROGATE.search(action)
    if surrogate is not None:
        raise ActionParseError(
            f"the action holds U+{ord(surrogate.group()):04X} at character {surrogate.start()}, "
            "a lone surrogate, which is not text (no file or shell can hold it)"
        )
    stripped = action.strip()
    if not stripped:
        raise ActionParseError("Empty action: write one command (see the command docs).")
    if stripped.startswith("{"):
        return _parse_function_call(stripped, bundle)
    return _parse_text(action.lstrip("\n").rstrip(), bundle)


def _parse_text(text: str, bundle: ToolBundle) -> ParsedAction:
    first_line, _, body = text.partition("\n")
    first_line = first_line.strip()
    name, _, remainder = first_line.partition(" ")
    name = name.strip()
    spec = bundle.by_name.get(name)
    if spec is None:
        raise _unknown(name, bundle)
    arguments: dict[str, Any] = {}
    rest_argument = spec.arguments[-1] if spec.arguments and spec.arguments[-1].rest else None
    if rest_argument is not None and len(_slots(spec)) == 1:
        # The whole remainder, verbatim: `bash` must see the agent's quoting untouched.
        value = (remainder + ("\n" + body if body else "")).strip()
        if value:
            arguments[rest_argument.name] = value
        elif rest_argument.required:
            raise ActionParseError(f"{name}: <{rest_argument.name}> is missing. {_usage_hint(spec)}")
        return ParsedAction(name=name, arguments=arguments, syntax="text")

    try:
        tokens = shlex.split(remainder)
    except ValueError as exc:
        raise ActionParseError(f"{name}: cannot read the arguments ({exc}). {_usage_hint(spec)}") from None
    slots = _slots(spec)
    if len(tokens) > len(slots):
        raise ActionParseError(
            f"{name}: too many arguments ({len(tokens)} given, at most {len(slots)}); "
            f"quote an argument that holds spaces. {_usage_hint(spec)}"
        )
    for index, slot in enumerate(slots):
        if index >= len(tokens):
            if not slot.optional:
                missing = ", ".join(f"<{n}>" for n in slot.names)
                raise ActionParseError(f"{name}: {missing} is missing. {_usage_hint(spec)}")
            continue
        match = slot.regex.match(tokens[index])
        if not match:
            raise ActionParseError(
                f"{name}: {tokens[index]!r} does not have the form {slot.shape}. {_usage_hint(spec)}"
            )
        for argument_name in slot.names:
            arguments[argument_name] = _convert(spec, argument_name, match.group(argument_name))

    multiline = spec.multiline_arguments
    if not multiline:
        if body.strip():
            raise ActionParseError(
                f"{name} takes a single line, but the action has more lines. "
                "Send one command per action (use bash for multi-line shell code)."
            )
        return ParsedAction(name=name, arguments=arguments, syntax="text")
    lines = body.split("\n") if body else []
    position = 0
    for argument in multiline:
        try:
            end = next(i for i in range(position, len(lines)) if lines[i].strip() == argument.end)
        except StopIteration:
            raise ActionParseError(
                f"{name}: <{argument.name}> must end with a line holding only {argument.end}. "
                f"{_usage_hint(spec)}"
            ) from None
        value = "".join(line + "\n" for line in lines[position:end])
        arguments[argument.name] = value if argument.final_newline else value.removesuffix("\n")
        position = end + 1
    if any(line.strip() for line in lines[position:]):
        raise ActionParseError(
            f"{name}: there is text after {multiline[-1].end}. Send one command per action."
        )
    return ParsedAction(name=name, arguments=arguments, syntax="text")


def _parse_function_call(text: str, bundle: ToolBundle) -> ParsedAction:
    try:
        call = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActionParseError(f"the action looks like JSON but is not valid JSON: {exc.msg}") from None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise ActionParseError('a function call must be {"name": ..., "arguments": {...}}')
    spec = bundle.by_name.get(call["name"])
    if spec is None:
        raise _unknown(call["name"], bundle)
    raw_arguments = call.get("arguments", {})
    if isinstance(raw_arguments, str):
        try:
            raw_arguments = json.loads(raw_arguments) if raw_arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ActionParseError(f"{spec.name}: arguments are not valid JSON: {exc.msg}") from None
    if not isinstance(raw_arguments, dict):
        raise ActionParseError(f"{spec.name}: arguments must be an object")
    declared = {a.name for a in spec.arguments}
    unknown = sorted(set(raw_arguments) - declared)
    if unknown:
        raise ActionParseError(
            f"{spec.name}: unknown argument(s) {', '.join(unknown)}; it takes {', '.join(sorted(declared)) or 'none'}"
        )
    arguments: dict[str, Any] = {}
    for argument in spec.arguments:
        if argument.name not in raw_arguments or raw_arguments[argument.name] is None:
            if argument.required:
                raise ActionParseError(f"{spec.name}: argument {argument.name!r} is missing")
            continue
        value = _convert(spec, argument.name, raw_arguments[argument.name])
        surrogate = _SURROGATE.search(value) if isinstance(value, str) else None
        if surrogate is not None:
            raise ActionParseError(
                f"{spec.name}: argument {argument.name!r} holds U+{ord(surrogate.group()):04X}, a "
                "lone surrogate, which is not text (no file or shell can hold it)"
            )
        if argument.multiline and argument.final_newline and value and not value.endswith("\n"):
            value += "\n"  # as the text syntax gives it: lines end with a newline
        arguments[argument.name] = value
    return ParsedAction(name=spec.name, arguments=arguments, syntax="function")


def format_action(name: str, arguments: dict[str, Any], bundle: ToolBundle) -> str:
    """The text syntax for a command: what an agent would type to get `arguments`."""
    spec = bundle.by_name[name]
    rest = spec.arguments[-1] if spec.arguments and spec.arguments[-1].rest else None
    if rest is not None and len(_slots(spec)) == 1:
        value = arguments.get(rest.name)
        return name if value is None else f"{name} {value}"
    words = [name]
    for slot in _slots(spec):
        if any(n not in arguments for n in slot.names):
            break
        token = slot.shape
        for argument_name in slot.names:
            token = token.replace(f"<{argument_name}>", str(arguments[argument_name]))
        words.append(shlex.quote(token) if len(slot.names) == 1 else token)
    text = " ".join(words)
    for argument in spec.multiline_arguments:
        value = arguments.get(argument.name, "")
        if not argument.final_newline or (value and not value.endswith("\n")):
            value += "\n"  # the line break before the end line is not part of the value
        text += "\n" + value + (argument.end or "")
    return text
