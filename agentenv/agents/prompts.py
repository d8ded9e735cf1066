"""The LLM agent's messages, from Jinja2 templates (system, instance, next step, format error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from agentenv.files import bundled_dir

from agentenv.agents.llm_config import TemplateFiles


class TemplateError(ValueError):
    """A template is missing or does not render; the message names the file."""


def builtin_configs_dir() -> Path:
    return bundled_dir("configs")


def _locate(relative: str, base_dir: Path) -> Path:
    """A template path: absolute, next to the run config, or one of the built-in ones."""
    path = Path(relative)
    if path.is_absolute():
        return path
    if (base_dir / path).is_file():
        return base_dir / path
    return builtin_configs_dir() / path


class Templates:
    def __init__(self, files: TemplateFiles, base_dir: Path) -> None:
        self._environment = jinja2.Environment(
            undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not ""
            keep_trailing_newline=False,
            autoescape=False,
        )
        self._templates: dict[str, jinja2.Template] = {}
        self._paths: dict[str, Path] = {}
        for name, relative in files.model_dump().items():
            path = _locate(relative, base_dir)
            try:
                self._templates[name] = self._environment.from_string(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise TemplateError(f"template {name}: {path} cannot be read: {exc.strerror}") from None
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {name}: {path}:{exc.lineno}: {exc.message}") from None
            self._paths[name] = path

    def _render(self, name: str, **values: Any) -> str:
        template = self._templates[name]
        try:
            return template.render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {name} ({self._paths[name]}): {exc.message}") from None

    def system(self, **values: Any) -> str:
        return self._render("system", **values)

    def instance(self, **values: Any) -> str:
        return self._render("instance", **values)

    def next_step(self, **values: Any) -> str:
        return self._render("next_step", **values)

    def format_error(self, **values: Any) -> str:
        return self._render("format_error", **values)
