"""Command declarations (`tools/*/config.yaml`): one source for docs, schemas and the parser."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import agentenv

TOOLS_SCHEMA_VERSION = 1
_PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class ToolsError(ValueError):
    """A tool bundle is missing or malformed; the message names the file and the field."""


class Argument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["string", "integer"]
    description: str
    required: bool = True
    # The body lines after the first line, up to the command's end_name line.
    multiline: bool = False
    # The rest of the action text, verbatim (no quoting, may span lines).
    rest: bool = False


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    signature: str
    docstring: str
    arguments: list[Argument] = Field(default_factory=list)
    end_name: str | None = None

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
        multiline = [a for a in self.arguments if a.multiline]
        if multiline and not self.end_name:
            raise ValueError("a multiline argument needs an end_name")
        if len(multiline) > 1:
            raise ValueError("at most one multiline argument")
        if any(a.rest for a in self.arguments[:-1]):
            raise ValueError("only the last argument may take the rest of the text")
        return self

    @property
    def usage(self) -> str:
        """The signature with the body placeholder, as shown in the docs."""
        if self.end_name:
            body = next(a.name for a in self.arguments if a.multiline)
            return f"{self.signature}\n<{body}>\n{self.end_name}"
        return self.signature

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
    name: str
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


def builtin_tools_dir() -> Path:
    """`tools/` of a source checkout, or the copy packed into an installed wheel."""
    package = Path(agentenv.__file__).resolve().parent
    for candidate in (package.parent / "tools", package / "_bundled" / "tools"):
        if candidate.is_dir():
            return candidate
    raise ToolsError(f"no tools/ folder next to {package}")


def load_bundle(folder: str | Path | None = None) -> ToolBundle:
    """Load `folder/config.yaml` (default: the built-in bundle)."""
    folder = Path(folder) if folder else builtin_tools_dir() / "defaults"
    config = folder / "config.yaml"
    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ToolsError(f"{config}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ToolsError(f"{config}: not valid YAML: {exc}") from exc
    try:
        return ToolBundle.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"`{'.'.join(str(p) for p in e['loc'])}`: {e['msg']}" for e in exc.errors()
        )
        raise ToolsError(f"{config}: {problems}") from None
