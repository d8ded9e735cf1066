"""Command declarations (`tools/<bundle>/config.yaml`): one source for the prompt's command
docs, the OpenAI function-calling schemas and the parser of text actions.

A bundle is a folder: `config.yaml` declares commands; `bin/<name>` (optional) implements a
command as a script that is copied into the container. The built-in bundle's commands are
implemented in Python on the host and need no script.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentenv.files import bundled_dir, describe_validation, read_yaml

TOOLS_SCHEMA_VERSION = 1
_PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class ToolsError(ValueError):
    """A tool bundle is missing or malformed; the message names the file and the field."""


class Argument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["string", "integer"]
    description: str
    required: bool = True
    # A multi-line argument is written on the lines after the first line, up to a line
    # holding only `end`; several follow each other in declaration order.
    multiline: bool = False
    end: str | None = None
    # Whether the value ends with a newline, as the lines of a file do (edit, insert); text
    # matched inside lines (str_replace) does not.
    final_newline: bool = True
    # The rest of the action text, verbatim (no quoting, may span lines).
    rest: bool = False

    @model_validator(mode="after")
    def _end_goes_with_multiline(self) -> Argument:
        if self.multiline != (self.end is not None):
            raise ValueError("a multiline argument needs an `end` line, and only it has one")
        return self


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    signature: str
    docstring: str
    arguments: list[Argument] = Field(default_factory=list)
    # Set when loading a bundle whose bin/ holds a script of this name (host path).
    script: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _signature_matches_arguments(self) -> CommandSpec:
        head, *_ = self.signature.split(None, 1) or [""]
        if head != self.name:
            raise ValueError(f"signature {self.signature!r} must start with the name {self.name!r}")
        in_signature = _PLACEHOLDER.findall(self.signature)
        inline = [a.name for a in self.arguments if not a.multiline]
        if in_signature != inline:
            raise ValueError(
                f"signature placeholders {in_signature} must list the non-multiline "
                f"arguments in order: {inline}"
            )
        if any(a.rest for a in self.arguments[:-1]):
            raise ValueError("only the last argument may take the rest of the text")
        if any(a.rest for a in self.arguments) and any(a.multiline for a in self.arguments):
            raise ValueError("a command cannot have both a rest argument and multiline ones")
        return self

    @property
    def multiline_arguments(self) -> list[Argument]:
        return [a for a in self.arguments if a.multiline]

    @property
    def usage(self) -> str:
        """The signature with the body placeholders, as shown in the docs."""
        lines = [self.signature]
        for argument in self.multiline_arguments:
            lines += [f"<{argument.name}>", argument.end or ""]
        return "\n".join(lines)

    def function_schema(self) -> dict[str, Any]:
        """The OpenAI function-calling ("tools") schema of this command."""
        properties = {
            a.name: {"type": a.type, "description": a.description} for a in self.arguments
        }
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.docstring,
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": [a.name for a in self.arguments if a.required],
                },
            },
        }


class ToolBundle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = TOOLS_SCHEMA_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    commands: list[CommandSpec]

    @cached_property
    def by_name(self) -> dict[str, CommandSpec]:
        return {command.name: command for command in self.commands}

    def docs(self) -> str:
        """The command reference for the prompt."""
        blocks = []
        for command in self.commands:
            lines = [command.usage, f"  {command.docstring}"]
            for argument in command.arguments:
                optional = "" if argument.required else ", optional"
                lines.append(f"  - {argument.name} ({argument.type}{optional}): {argument.description}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def function_schemas(self) -> list[dict[str, Any]]:
        return [command.function_schema() for command in self.commands]

    def merged_with(self, *others: ToolBundle) -> ToolBundle:
        """One bundle offering every command; a name declared twice is an error."""
        commands = list(self.commands)
        owner = {command.name: self.name for command in self.commands}
        for other in others:
            for command in other.commands:
                if command.name in owner:
                    raise ToolsError(
                        f"command {command.name!r} of bundle {other.name!r} is already "
                        f"declared by bundle {owner[command.name]!r}"
                    )
                owner[command.name] = other.name
                commands.append(command)
        return ToolBundle(name=".".join([self.name, *(o.name for o in others)]), commands=commands)


def builtin_tools_dir() -> Path:
    folder = bundled_dir("tools")
    if not folder.is_dir():
        raise ToolsError(f"no tools/ folder at {folder}")
    return folder


def load_bundle(folder: str | Path | None = None) -> ToolBundle:
    """Load `folder/config.yaml` (default: the built-in bundle) and find its bin/ scripts."""
    folder = Path(folder) if folder else builtin_tools_dir() / "defaults"
    config = folder / "config.yaml"
    raw = read_yaml(config, ToolsError)
    try:
        bundle = ToolBundle.model_validate(raw)
    except ValidationError as exc:
        raise ToolsError(f"{config}: {describe_validation(exc, prefix='')}") from None
    for command in bundle.commands:
        script = folder / "bin" / command.name
        if script.is_file():
            command.script = str(script.resolve())
    return bundle


def load_toolset(extra_bundles: list[str | Path] | None = None) -> ToolBundle:
    """The built-in commands plus those of the named bundle folders."""
    builtin = load_bundle()
    extras = [load_bundle(folder) for folder in extra_bundles or []]
    for extra in extras:
        for command in extra.commands:
            if command.script is None:
                raise ToolsError(
                    f"command {command.name!r} of bundle {extra.name!r} has no script "
                    f"(expected bin/{command.name} in the bundle folder)"
                )
    return builtin.merged_with(*extras)
